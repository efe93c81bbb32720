fn main() {
    shop::main()
}

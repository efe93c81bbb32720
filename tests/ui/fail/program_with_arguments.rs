livepatch::program!(app);

fn main() {}

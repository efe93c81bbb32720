#[livepatch(
    name = "net-fix-v1",
    states = [
        /// Checksums are computed in software.
        SOFT_CHECKSUM { id: 7, version: 1 },
    ],
)]
pub mod net_v1 {
    #[livepatch::pre_patch(object = "net")]
    fn check(cx: &mut livepatch::PrePatch<'_>) -> Result<(), livepatch::CallbackError> {
        Ok(())
    }
}

#[livepatch(
    name = "net-fix-v2",
    replace,
    follows = [super::net_v1],
    states = [
        /// Checksums are computed in software; the table is kept.
        SOFT_CHECKSUM { id: 7, version: 2, data: std::sync::Mutex<Vec<u32>> },
        /// Offload is switched off on every device.
        NO_OFFLOAD { id: 8, version: 1, data: () },
    ],
)]
pub mod net_v2 {}

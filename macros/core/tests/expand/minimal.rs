#[livepatch]
mod empty {}

//! Who may drive the program: its own user and root. Anyone else who can reach the socket is
//! refused, and the refusal is logged.

/// Whether a peer running as `peer_uid` may send requests to a program running as
/// `service_uid`.
pub fn allowed(peer_uid: u32, service_uid: u32) -> bool {
    peer_uid == service_uid || peer_uid == 0
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn the_service_user_and_root_are_served_and_nobody_else() {
        assert!(allowed(1000, 1000));
        assert!(allowed(0, 1000));
        assert!(allowed(0, 0));
        assert!(!allowed(1001, 1000));
        assert!(!allowed(1000, 0));
    }
}

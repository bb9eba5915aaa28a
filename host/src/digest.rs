//! Digests as text: the lower-case hex every identity in Sandbar is written
//! in (a plugin's SHA-256, a recording's, a journal's, a client order id's
//! random run id). One spelling, so an identity read in one place matches
//! the same identity written in another.

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0a, 0xff]), "000aff");
    }
}

//! The network toolkit every adapter and channel shares: how long to wait
//! before knocking again ([`backoff`]). A venue, a feed, an update stream or
//! an alert channel that retries uses it, so one rule decides how fast the
//! host knocks again.
pub mod backoff;
pub mod tls;

pub use backoff::Backoff;

/// An error and every cause under it, on one line (`error sending request
/// for url (…): client error (Connect): tcp connect error: Connection
/// refused`): what a connection error says is in its causes.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_says_its_causes() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        // io::Error's Display of a wrapped error is its inner text; the
        // chain does not repeat it.
        assert_eq!(super::chain(&outer), "refused");
        let e = anyhow::anyhow!("tcp connect").context("sending");
        let e: &(dyn std::error::Error + 'static) = e.as_ref();
        assert_eq!(super::chain(e), "sending: tcp connect");
    }
}

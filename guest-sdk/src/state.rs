//! Snapshot helpers: serde + bincode, with a state version in front.
//!
//! A hot-swap hands the old version's snapshot to the new version's
//! `restore`. Prefix the state with a version number you bump whenever its
//! layout changes, so the new code knows what it is reading.
//!
//! ```
//! use sandbar_sdk::state;
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Counter { bars: u64 }
//! let bytes = state::encode(1, &Counter { bars: 7 }).unwrap();
//! let (version, back): (u32, Counter) = state::decode(&bytes).unwrap();
//! assert_eq!((version, back), (1, Counter { bars: 7 }));
//! ```

use serde::{Serialize, de::DeserializeOwned};

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 64 * 1024 * 1024 }>()
}

/// Serialize `value` behind a `u32` state version.
pub fn encode<T: Serialize>(version: u32, value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec((version, value), config())
        .map_err(|e| format!("encoding state: {e}"))
}

/// Read a state written by [`encode`]: its version and value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(u32, T), String> {
    let ((version, value), used): ((u32, T), usize) =
        bincode::serde::decode_from_slice(bytes, config())
            .map_err(|e| format!("decoding state: {e}"))?;
    if used != bytes.len() {
        return Err(format!(
            "decoding state: {} trailing bytes",
            bytes.len() - used
        ));
    }
    Ok((version, value))
}

/// Just the version of a state written by [`encode`].
pub fn version(bytes: &[u8]) -> Result<u32, String> {
    bincode::decode_from_slice::<u32, _>(bytes, config())
        .map(|(v, _)| v)
        .map_err(|e| format!("reading state version: {e}"))
}

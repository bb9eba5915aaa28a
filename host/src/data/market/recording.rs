//! The binary recording format (`.sbrec`): a magic, then bincode with a size limit; and a recording's bar interval.

use super::*;

/// First bytes of a recording file: name and format version.
pub const RECORDING_MAGIC: [u8; 8] = *b"SBREC\x00\x01\x00";

pub(super) fn recording_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<{ 1 << 34 }>()
}

/// Write a recording: magic, then bincode (fixed-width integers).
pub fn write_recording(path: &Path, rec: &Recording) -> Result<(), DataError> {
    let err = |e: String| DataError {
        file: path.to_path_buf(),
        line: None,
        kind: DataErrorKind::Io(e),
    };
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let mut w = std::io::BufWriter::new(file);
    w.write_all(&RECORDING_MAGIC)
        .map_err(|e| err(e.to_string()))?;
    bincode::encode_into_std_write(rec, &mut w, recording_config())
        .map_err(|e| err(e.to_string()))?;
    w.flush().map_err(|e| err(e.to_string()))
}

/// Read a recording and check its invariants (sorted, symbols in range, finite).
pub fn read_recording(path: &Path) -> Result<Recording, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError {
        file: path.to_path_buf(),
        line: None,
        kind: DataErrorKind::Io(e.to_string()),
    })?;
    decode_recording(&bytes).map_err(|kind| DataError {
        file: path.to_path_buf(),
        line: None,
        kind,
    })
}

/// Decode recording bytes (with magic) and validate them.
pub fn decode_recording(bytes: &[u8]) -> Result<Recording, DataErrorKind> {
    let bad = |m: String| DataErrorKind::BadRecording(m);
    let body = bytes
        .strip_prefix(&RECORDING_MAGIC[..])
        .ok_or_else(|| bad("missing SBREC header".into()))?;
    let (rec, used): (Recording, usize) =
        bincode::decode_from_slice(body, recording_config()).map_err(|e| bad(e.to_string()))?;
    if used != body.len() {
        return Err(bad(format!("{} trailing bytes", body.len() - used)));
    }
    for (i, b) in rec.bars.iter().enumerate() {
        if b.symbol as usize >= rec.symbols.len() {
            return Err(bad(format!(
                "bar {i} names symbol {} of {}",
                b.symbol,
                rec.symbols.len()
            )));
        }
        let vals = [b.open, b.high, b.low, b.close, b.volume];
        if vals.iter().any(|v| !v.is_finite() || *v < 0.0)
            || vals[..4].iter().any(|p| *p <= 0.0)
            || b.high < b.low
            || !(MIN_TIME_MS..MAX_TIME_MS).contains(&b.time_ms)
        {
            return Err(bad(format!("bar {i} has invalid prices {vals:?}")));
        }
        if i > 0 && (rec.bars[i - 1].time_ms, rec.bars[i - 1].symbol) >= (b.time_ms, b.symbol) {
            return Err(bad(format!("bar {i} is out of order")));
        }
    }
    Ok(rec)
}

/// The median spacing between consecutive bars of the first symbol, in
/// milliseconds: the bar interval used for annualisation.
pub fn bar_interval_ms(rec: &Recording) -> Option<i64> {
    let sym = rec.bars.first()?.symbol;
    let times: Vec<i64> = rec
        .bars
        .iter()
        .filter(|b| b.symbol == sym)
        .map(|b| b.time_ms)
        .collect();
    let mut gaps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

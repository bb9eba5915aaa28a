//! Differences between a venue and the journals, and the rule that a
//! difference is believed only when two rounds in a row see it.

use super::*;

/// A holding the journals do not explain.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The venue's symbol.
    pub symbol: String,
    /// What the venue holds.
    pub venue: f64,
    /// The sum of the journals' positions.
    pub journals: f64,
    /// What someone else holds.
    pub foreign: f64,
}

impl Difference {
    /// Venue minus what is explained.
    pub fn amount(&self) -> f64 {
        self.venue - self.journals - self.foreign
    }

    /// One line of a report.
    pub fn describe(&self) -> String {
        format!(
            "holding of {}: the venue has {}, the journals {} and someone else {} — {:+} unexplained",
            self.symbol,
            self.venue,
            self.journals,
            self.foreign,
            self.amount()
        )
    }
}

/// The differences beyond `tolerance`, for the symbols the venue answered.
pub fn differences(
    held: &[(String, f64)],
    journals: &BTreeMap<String, f64>,
    foreign: &BTreeMap<String, f64>,
    tolerance: f64,
) -> Vec<Difference> {
    held.iter()
        .map(|(s, q)| Difference {
            symbol: s.clone(),
            venue: *q,
            journals: journals.get(s).copied().unwrap_or(0.0),
            foreign: foreign.get(s).copied().unwrap_or(0.0),
        })
        .filter(|d| d.amount().abs() > tolerance)
        .collect()
}

/// Differences seen in the last round: one is believed when the next
/// round sees it again, the same.
#[derive(Debug, Default)]
pub struct Suspects {
    last: HashMap<String, f64>,
}

impl Suspects {
    /// This round's differences (key, amount); returns the keys seen the
    /// same (within `tolerance`) in the round before.
    pub fn confirm(&mut self, now: Vec<(String, f64)>, tolerance: f64) -> Vec<String> {
        let confirmed = now
            .iter()
            .filter(|(k, a)| self.last.get(k).is_some_and(|b| (a - b).abs() <= tolerance))
            .map(|(k, _)| k.clone())
            .collect();
        self.last = now.into_iter().collect();
        confirmed
    }

    /// Forget `key` (compared clean, or not comparable this round).
    pub fn clear(&mut self, key: &str) {
        self.last.remove(key);
    }
}

//! The settings of one configured venue, as each adapter implements them.

use super::{Connector, CourierConfig, ReconcileConfig};

/// A configured venue (`[venues.<name>]`): each adapter's venue settings
/// implement it; `crate::adapters::VenueConfig` picks one by its `kind`.
pub trait VenueAdapter {
    /// Read the credentials (an error names the variable or file) and
    /// connect for `symbols`: the venue's clock, filters and the key are
    /// checked now.
    fn connect(&self, name: &str, symbols: &[String]) -> anyhow::Result<Box<dyn Connector>>;
    /// The market days from `start` to `end` (`YYYY-MM-DD`, inclusive),
    /// from the venue's calendar (a session with `calendar = "venue"`).
    /// Default: the venue publishes none (crypto trades 24/7).
    fn calendar(
        &self,
        name: &str,
        start: &str,
        end: &str,
    ) -> anyhow::Result<crate::session::Calendar> {
        let _ = (start, end);
        anyhow::bail!(
            "venues.{name} publishes no market calendar (it trades 24/7): give the session a calendar file or `weekdays`"
        )
    }
    /// The endpoint trades no money (a broker's paper account, a
    /// testnet): the `paper = true` key of `[venues.<name>]`.
    fn paper(&self) -> bool;
    /// How orders are followed and paced.
    fn orders(&self) -> &CourierConfig;
    /// How holdings and open orders are compared with the journals.
    fn reconcile(&self) -> &ReconcileConfig;
    /// Make relative paths relative to the config file's folder.
    fn resolve(&mut self, base: &std::path::Path);
    /// Refuse settings that cannot work, naming `venues.<name>.<key>`.
    fn check(&self, name: &str) -> anyhow::Result<()>;
}

//! The settings of one configured venue, as each adapter implements them.

use super::{Connector, CourierConfig, ReconcileConfig};

/// A configured venue (`[venues.<name>]`): each adapter's venue settings
/// implement it; `crate::adapters::VenueConfig` picks one by its `kind`.
pub trait VenueAdapter {
    /// Read the credentials (an error names the variable or file) and
    /// connect for `symbols`: the venue's clock, filters and the key are
    /// checked now.
    fn connect(&self, name: &str, symbols: &[String]) -> anyhow::Result<Box<dyn Connector>>;
    /// How orders are followed and paced.
    fn orders(&self) -> &CourierConfig;
    /// How holdings and open orders are compared with the journals.
    fn reconcile(&self) -> &ReconcileConfig;
    /// Make relative paths relative to the config file's folder.
    fn resolve(&mut self, base: &std::path::Path);
    /// Refuse settings that cannot work, naming `venues.<name>.<key>`.
    fn check(&self, name: &str) -> anyhow::Result<()>;
}

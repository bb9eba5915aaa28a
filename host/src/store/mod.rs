//! What is kept in redb: the run journal ([`journal`]: every intent, order,
//! fill and refusal, journaled before anyone acts on it), the plugin
//! registry and deployments ([`registry`], which applies the lifecycle's
//! rules, `crate::lifecycle`, on every move), and backups of them all
//! ([`backup`], taken while the service runs).

pub mod backup;
pub mod journal;
pub mod registry;

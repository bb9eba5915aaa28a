//! What is kept in redb: the run journal ([`journal`]: every intent, order,
//! fill and refusal, journaled before anyone acts on it) and the plugin
//! registry and deployments ([`registry`], which applies the lifecycle's
//! rules, `crate::lifecycle`, on every move).

pub mod journal;
pub mod registry;

//! End-to-end tests: the real `sandbar` binary driving real plugin
//! components (built by `tests/support`), split by purpose.

mod util;

mod accounts;
mod after_fault;
mod alerts;
mod api;
mod api_fuzz;
mod author;
mod backup;
mod dashboard;
mod data;
mod docs;
mod exact;
mod feeds;
mod freshness;
mod golden;
mod html;
mod layout;
mod live;
mod monitoring;
mod operations;
mod plugins;
mod protection;
mod python;
mod python_author;
mod python_harness;
mod recovery;
mod registry;
mod replay;
mod research;
mod risk;
mod sandbox;
mod service;
mod swap;
mod trailing;
mod venue_rules;

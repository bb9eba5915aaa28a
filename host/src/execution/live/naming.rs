//! Client order ids: how a deployment's run names its orders at the venue,
//! and how an id read back from the venue is traced to the order.

/// Identity of a deployment's orders at the venue.
#[derive(Debug, Clone)]
pub struct Naming {
    /// Prefix of every client order id of this deployment's run.
    pub prefix: String,
}

impl Naming {
    /// The client order id of order `id`.
    pub fn client_id(&self, id: u64) -> String {
        format!("{}{id}", self.prefix)
    }
    /// The order id a client order id of this run names, if it is one.
    pub fn order_id(&self, client_id: &str) -> Option<u64> {
        client_id.strip_prefix(&self.prefix)?.parse().ok()
    }
}

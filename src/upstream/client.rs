//! The gateway's client-side handler for one upstream session: its identity, and turning the
//! upstream's `notifications/tools/list_changed` into a gateway event, for both protocol eras
//! (a plain notification before 2026-07-28, a `subscriptions/listen` stream since).

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProtocolVersion, ServerNotification,
    SubscriptionFilter,
};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, Peer, RoleClient};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The set of domains whose upstream announced a tool list change and that were not re-listed
/// yet. A set, not a queue: a flood of notifications costs one entry, and none is ever lost.
#[derive(Debug, Default)]
pub struct ToolChanges {
    dirty: Mutex<BTreeSet<String>>,
    wake: Notify,
}

impl ToolChanges {
    /// Records that `domain` changed and wakes the consumer.
    pub fn mark(&self, domain: &str) {
        if let Ok(mut dirty) = self.dirty.lock() {
            dirty.insert(domain.to_string());
        }
        self.wake.notify_one();
    }

    /// Takes every recorded domain.
    pub fn take(&self) -> BTreeSet<String> {
        self.dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }

    /// Resolves once something was marked (possibly before this call).
    pub async fn changed(&self) {
        self.wake.notified().await;
    }
}

/// Where an upstream reports its tool list changes.
pub type EventSender = Arc<ToolChanges>;

/// The client handler of one upstream session.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    domain: String,
    info: ClientConfig,
    events: Option<EventSender>,
}

impl UpstreamClient {
    /// A handler that announces `version` in `initialize` (ignored by 2026-07-28 discovery).
    pub(crate) fn new(
        domain: &str,
        version: ProtocolVersion,
        events: Option<EventSender>,
    ) -> UpstreamClient {
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(version);
        UpstreamClient {
            domain: domain.to_string(),
            info,
            events,
        }
    }

    /// The domain of the upstream this session belongs to.
    pub(crate) fn domain(&self) -> &str {
        &self.domain
    }

    /// What the handler announces: client info and capabilities.
    pub(crate) fn info(&self) -> &ClientConfig {
        &self.info
    }

    /// Reports that the upstream's tools changed.
    pub(crate) fn tools_changed(&self) {
        if let Some(events) = &self.events {
            events.mark(&self.domain);
        }
    }

    /// On 2026-07-28 sessions, list_changed arrives only on a subscription: open one (when the
    /// upstream advertises `tools.listChanged`) and forward it until the session ends.
    pub(crate) fn subscribe_if_modern(&self, peer: &Peer<RoleClient>) {
        let Some(info) = peer.peer_info() else { return };
        let modern = info.protocol_version >= ProtocolVersion::V_2026_07_28;
        let announces = info
            .capabilities
            .tools
            .as_ref()
            .and_then(|t| t.list_changed)
            == Some(true);
        if !(modern && announces && self.events.is_some()) {
            return;
        }
        let (peer, handler) = (peer.clone(), self.clone());
        tokio::spawn(async move {
            let filter = SubscriptionFilter::builder().tools_list_changed().build();
            let Ok(mut subscription) = peer.listen(filter).await else {
                tracing::debug!(domain = %handler.domain, "upstream refused subscriptions/listen");
                return;
            };
            while let Ok(Some(notification)) = subscription.next().await {
                if matches!(
                    notification,
                    ServerNotification::ToolListChangedNotification(_)
                ) {
                    handler.tools_changed();
                }
            }
        });
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!(domain = %self.domain, "upstream tool list changed");
        self.tools_changed();
    }
}

//! Telematics connections: which providers Motorpool can pull from, and the
//! states of a sync.

use serde::{Deserialize, Serialize};

text_enum!(
    /// A telematics data source.
    Provider {
        /// Motorpool's own documented JSON feed: any system can serve it.
        MotorpoolFeed => "motorpool_feed",
        /// Traccar's REST API (devices and positions).
        Traccar => "traccar",
        /// A Samsara-shaped vehicle-stats fault feed.
        Samsara => "samsara",
    }
);

text_enum!(
    /// Where a sync stands or how it ended.
    SyncStatus {
        Pending => "pending",
        InProgress => "in_progress",
        Completed => "completed",
        Failed => "failed",
        /// It ran, but some items were refused.
        Partial => "partial",
    }
);

text_enum!(
    /// What started a sync.
    SyncTrigger {
        Schedule => "schedule",
        Manual => "manual",
        Webhook => "webhook",
    }
);

//! Desktop notifications on Linux: org.freedesktop.Notifications spoken over D-Bus directly,
//! without a blocking call, so it runs on the async runtime. Both tray processes show their
//! notifications with it (the desktop app and `fliplet-agent-tray`); only built with the
//! `notify` feature.

use std::collections::HashMap;
use std::time::Duration;

/// How long the notification service may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Show a desktop notification from "Fliplet Agent". A failure is logged as a warning.
pub async fn desktop(title: String, body: String) {
    let sent = async {
        let conn = zbus::Connection::session().await?;
        let hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
        conn.call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "Notify",
            &(
                "Fliplet Agent",
                0u32,
                "",
                title.as_str(),
                body.as_str(),
                Vec::<&str>::new(),
                hints,
                -1i32,
            ),
        )
        .await?;
        Ok::<_, zbus::Error>(())
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, sent).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("Cannot show a desktop notification: {e}"),
        Err(_) => tracing::warn!("Cannot show a desktop notification: no answer"),
    }
}

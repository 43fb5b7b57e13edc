//! How the server ends a stream, mapped to Baileys' disconnect reasons: `<stream:error>`,
//! `<failure>` and `<xmlstreamend>`. Pure functions of the node.

use wa_binary::Node;

use crate::error::{Disconnect, code, reason};

/// `<stream:error code=.. ><first-child .. /></stream:error>` as Baileys reports it.
pub fn stream_error(node: &Node) -> Disconnect {
    let first = node.child_nodes().first();
    let mut reason_tag = first.map_or("unknown".to_owned(), |c| c.tag.to_string());
    let status = node
        .get_attr("code")
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(if reason_tag == "conflict" {
            reason::CONNECTION_REPLACED
        } else {
            reason::BAD_SESSION
        });
    if status == reason::RESTART_REQUIRED {
        reason_tag = "restart required".into();
    }
    let code = match status {
        reason::RESTART_REQUIRED => code::RESTART_REQUIRED,
        reason::CONNECTION_REPLACED => code::REPLACED,
        reason::LOGGED_OUT => code::LOGGED_OUT,
        _ => code::STREAM_ERROR,
    };
    let mut d = Disconnect::new(status, code, format!("Stream Errored ({reason_tag})"));
    if let Some(c) = first {
        d.data = c
            .attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        d.data.insert(0, ("tag".into(), c.tag.to_string()));
    }
    d
}

/// `<failure reason=N/>`: a refused login.
pub fn failure(node: &Node) -> Disconnect {
    let status = node
        .get_attr("reason")
        .and_then(|r| r.parse().ok())
        .unwrap_or(500);
    let code = if status == reason::LOGGED_OUT {
        code::LOGGED_OUT
    } else {
        code::FAILURE
    };
    let mut d = Disconnect::new(status, code, "Connection Failure");
    d.data = node
        .attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    d
}

/// `<xmlstreamend/>`: the server closed the stream.
pub fn stream_end() -> Disconnect {
    Disconnect::new(
        reason::CONNECTION_CLOSED,
        code::CLOSED,
        "Connection Terminated by Server",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_map_to_baileys_reasons() {
        let conflict = Node::new("stream:error")
            .children(vec![Node::new("conflict").attr("type", "replaced")]);
        let d = stream_error(&conflict);
        assert_eq!((d.status, d.code), (440, code::REPLACED));
        assert_eq!(d.message, "Stream Errored (conflict)");
        assert_eq!(d.data[0], ("tag".into(), "conflict".into()));
        let restart = Node::new("stream:error").attr("code", "515");
        let d = stream_error(&restart);
        assert_eq!((d.status, d.code), (515, code::RESTART_REQUIRED));
        assert_eq!(d.message, "Stream Errored (restart required)");
        let f = failure(&Node::new("failure").attr("reason", "401"));
        assert_eq!((f.status, f.code), (401, code::LOGGED_OUT));
        let f = failure(&Node::new("failure").attr("reason", "403"));
        assert_eq!((f.status, f.code), (403, code::FAILURE));
    }
}

//! `TalkEvent`s as an app's web page reads them (the family app's voice view, `ui/js/views/
//! voice.js`, reads these fields): tagged by `kind`, with `session_id` null for oneself.

use iptincan::client::talk::{TalkEvent, Talker};
use iptincan::proto::SessionId;
use serde_json::{json, Value};

fn to_json(event: TalkEvent) -> Value {
    serde_json::to_value(event).expect("serialises")
}

#[test]
fn talk_events_serialise_as_the_voice_view_reads_them() {
    assert_eq!(to_json(TalkEvent::Level { dbfs: -42.5 }), json!({ "kind": "level", "dbfs": -42.5 }));
    assert_eq!(
        to_json(TalkEvent::Talking { talker: Talker::Me, talking: true }),
        json!({ "kind": "talking", "session_id": null, "talking": true })
    );
    assert_eq!(
        to_json(TalkEvent::Talking { talker: Talker::Member(SessionId(7)), talking: false }),
        json!({ "kind": "talking", "session_id": 7, "talking": false })
    );
    assert_eq!(
        to_json(TalkEvent::Joined { session_id: SessionId(7), username: "ann".into() }),
        json!({ "kind": "joined", "session_id": 7, "username": "ann" })
    );
    assert_eq!(to_json(TalkEvent::Left { session_id: SessionId(7) }), json!({ "kind": "left", "session_id": 7 }));
    assert_eq!(
        to_json(TalkEvent::DeviceError { message: "no microphone".into() }),
        json!({ "kind": "device_error", "message": "no microphone" })
    );
}

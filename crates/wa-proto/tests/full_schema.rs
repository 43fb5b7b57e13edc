//! The whole WhatsApp schema (proto/whatsapp.proto): kinds beyond the client core's first needs,
//! written by Baileys 7's protobufjs module, decode to the values written and re-encode to the
//! same bytes; and the descriptor set names every message of the schema.

use prost::Message as _;
use wa_proto::{AdvKeyIndexList, HistorySync, Message, SyncActionValue, history_sync, message};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// proto.Message.encode(proto.Message.fromObject({ pollCreationMessageV3, pollUpdateMessage,
// locationMessage, contactsArrayMessage, buttonsResponseMessage, interactiveMessage (body,
// nativeFlowMessage), eventMessage, pinInChatMessage, messageContextInfo }))
const MESSAGE: &str = "2a160900000000008037c01100000000005047c01a0253506a1f0a0a3220636f6e746163747312110a014182010b424547494e3a56434152449a02261a2009090909090909090909090909090909090909090909090909090909090909092880a305da020b0a02623112034f6e652001ea021f12060a04626f647932150a110a0b717569636b5f7265706c7912027b7d18019203210a031a015012130a03010203120c040404040404040404040404208180b3c19c33fa030e0a031a014b1001188280b3c19c338204121204706f6c6c1a030a01611a030a01622001da040f10001a0570617274793880f09dc706";
// proto.HistorySync: syncType FULL, chunkOrder 1, progress 50, one conversation with one
// message, one pushname.
const HISTORY_SYNC: &str = "0802122c0a133535313140732e77686174736170702e6e6574120e0a0c0a041a024d311880f09dc70630026a03416e61280130323a1a0a133535313140732e77686174736170702e6e65741203416e61";
// proto.SyncActionValue: timestamp, muteAction, contactAction, labelEditAction.
const SYNC_ACTION_VALUE: &str =
    "088080b3c19c331a120a09416e61204d617269611a0531406c6964220908011080dd8ec39c3372050a014c1003";
// proto.ADVKeyIndexList with validIndexes [0, 1, 3, 300] (packed).
const ADV_KEY_INDEX_LIST: &str = "08071080f09dc70618032205000103ac022801";

#[test]
fn message_kinds_beyond_the_core_from_baileys() {
    let bytes = unhex(MESSAGE);
    let msg = Message::decode(bytes.as_slice()).unwrap();
    let poll = msg.poll_creation_message_v3.as_ref().unwrap();
    assert_eq!(poll.name.as_deref(), Some("poll"));
    let names: Vec<_> = poll
        .options
        .iter()
        .map(|o| o.option_name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(poll.selectable_options_count, Some(1));
    let vote = msg.poll_update_message.as_ref().unwrap();
    assert_eq!(
        vote.vote.as_ref().unwrap().enc_iv.as_deref(),
        Some(&[4u8; 12][..])
    );
    let loc = msg.location_message.as_ref().unwrap();
    assert_eq!(
        (loc.degrees_latitude, loc.degrees_longitude),
        (Some(-23.5), Some(-46.625))
    );
    let contacts = msg.contacts_array_message.as_ref().unwrap();
    assert_eq!(contacts.contacts[0].vcard.as_deref(), Some("BEGIN:VCARD"));
    let reply = msg.buttons_response_message.as_ref().unwrap();
    assert_eq!(
        reply.response,
        Some(message::buttons_response_message::Response::SelectedDisplayText("One".into()))
    );
    assert_eq!(
        reply.r#type,
        Some(message::buttons_response_message::Type::DisplayText as i32)
    );
    let interactive = msg.interactive_message.as_ref().unwrap();
    match interactive.interactive_message.as_ref().unwrap() {
        message::interactive_message::InteractiveMessage::NativeFlowMessage(flow) => {
            assert_eq!(flow.buttons[0].name.as_deref(), Some("quick_reply"));
        }
        other => panic!("not a native flow: {other:?}"),
    }
    let event = msg.event_message.as_ref().unwrap();
    assert_eq!(
        (event.name.as_deref(), event.start_time),
        (Some("party"), Some(1_760_000_000))
    );
    let pin = msg.pin_in_chat_message.as_ref().unwrap();
    assert_eq!(
        pin.r#type,
        Some(message::pin_in_chat_message::Type::PinForAll as i32)
    );
    assert_eq!(
        msg.message_context_info
            .as_ref()
            .unwrap()
            .message_add_on_duration_in_secs,
        Some(86_400)
    );
    assert_eq!(msg.encode_to_vec(), bytes);
}

#[test]
fn history_sync_and_app_state_values_from_baileys() {
    let bytes = unhex(HISTORY_SYNC);
    let hs = HistorySync::decode(bytes.as_slice()).unwrap();
    // `syncType` has no label in the published schema (implicit presence); compiled as proto2 it
    // is an `Option` (see build.rs).
    assert_eq!(
        hs.sync_type,
        Some(history_sync::HistorySyncType::Full as i32)
    );
    assert_eq!(hs.conversations[0].name.as_deref(), Some("Ana"));
    let m = hs.conversations[0].messages[0].message.as_ref().unwrap();
    assert_eq!(m.message_timestamp, Some(1_760_000_000));
    assert_eq!(hs.pushnames[0].pushname.as_deref(), Some("Ana"));
    assert_eq!(hs.encode_to_vec(), bytes);

    let bytes = unhex(SYNC_ACTION_VALUE);
    let v = SyncActionValue::decode(bytes.as_slice()).unwrap();
    assert_eq!(v.timestamp, Some(1_760_000_000_000));
    assert_eq!(v.mute_action.as_ref().unwrap().muted, Some(true));
    assert_eq!(
        v.contact_action.as_ref().unwrap().lid_jid.as_deref(),
        Some("1@lid")
    );
    assert_eq!(v.label_edit_action.as_ref().unwrap().color, Some(3));
    assert_eq!(v.encode_to_vec(), bytes);
}

#[test]
fn repeated_scalars_pack_as_protobufjs_does() {
    let bytes = unhex(ADV_KEY_INDEX_LIST);
    let list = AdvKeyIndexList::decode(bytes.as_slice()).unwrap();
    assert_eq!(list.valid_indexes, [0, 1, 3, 300]);
    assert_eq!(list.encode_to_vec(), bytes);
}

#[test]
fn descriptor_set_has_the_whole_schema() {
    // The reflection pool wa-client builds Baileys' JSON shapes from accepts the set.
    let pool = prost_reflect::DescriptorPool::decode(wa_proto::FILE_DESCRIPTOR_SET).unwrap();
    let file = pool
        .files()
        .find(|f| f.name() == "whatsapp.proto")
        .expect("whatsapp.proto is in the set");
    // WhatsApp's schema as Baileys 7.0.0-rc14 publishes it: 498 messages, 174 enums.
    let messages = pool
        .all_messages()
        .filter(|m| m.package_name() == "wa" && !m.is_map_entry());
    assert_eq!(messages.count(), 498);
    assert_eq!(
        pool.all_enums()
            .filter(|e| e.package_name() == "wa")
            .count(),
        174
    );
    assert_eq!(file.messages().count(), 189); // top-level ones
    // closed enums without a zero value compile (the reason the file is compiled as proto2)
    let kind = pool
        .get_enum_by_name("wa.BotFeedbackMessage.BotFeedbackKindMultipleNegative")
        .unwrap();
    assert_eq!(kind.default_value().number(), 1);
    let history = pool.get_message_by_name("wa.HistorySync").unwrap();
    assert_eq!(
        history.get_field_by_name("conversations").unwrap().number(),
        2
    );
}

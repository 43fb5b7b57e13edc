//! Message schemas against bytes written by Baileys 7's own protobuf code (WAProto via
//! protobufjs): field numbers, names and types decode to the same values, and re-encode to the
//! same bytes.

use wa_proto::{Message, ProtoMessage, WebMessageInfo, message, web_message_info};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// proto.WebMessageInfo.encode({ key, message: { extendedTextMessage: { text, contextInfo },
// messageContextInfo }, messageTimestamp, status: DELIVERY_ACK, pushName, messageStubType: 27,
// messageStubParameters, userReceipt, reactions })
const WEB_MESSAGE_INFO: &str = "0a420a1731323033363330323532343631323534383640672e757310001a10334542304131423243334434453546362213313233343536373839303132333435406c696412960132490a0a6f6cc3a12040353531318a013a0a0341424312133535313140732e77686174736170702e6e65741a040a0268697a133535313140732e77686174736170702e6e6574c80180f5249a02480a220a0a010101010101010101011080e2cfaa061a020102420a0202020202020202020210021a2003030303030303030303030303030303030303030303030303030303030303031880f09dc70620039a0103416e61c0011bd2010161d2010162c2021b0a133535313140732e77686174736170702e6e65741881f09dc706ca02120a031a01581204f09f918d20fb80b3c19c33";

// proto.Message.encode({ senderKeyDistributionMessage, imageMessage, documentMessage,
// audioMessage, videoMessage, protocolMessage (MESSAGE_EDIT), stickerMessage,
// deviceSentMessage, ephemeralMessage, reactionMessage, messageContextInfo })
const MESSAGE: &str = "120f0a063140672e7573120504040404041ab2010a1a68747470733a2f2f6d6d672e77686174736170702e6e65742f78120a696d6167652f6a7065671a036361702220050505050505050505050505050505050505050505050505050505050505050528b96030800538e003422006060606060606060606060606060606060606060606060606060606060606064a2007070707070707070707070707070707070707070707070707070707070707075a042f762f786080f09dc70682010408080808c801013a23120f6170706c69636174696f6e2f7064661a03646f6330034205612e706466a201016342271216617564696f2f6f67673b20636f646563733d6f707573280730019a010809090909090909094a151209766964656f2f6d7034280c3a01764001980101622f0a1a0a133535313140732e77686174736170702e6e657410011a0159100e72080a0665646974656478e787b3c19c33d201142a0a696d6167652f776562703080043880046801fa01240a133535313140732e77686174736170702e6e657412060a046d696e651a05323a6162639a02221a200101010101010101010101010101010101010101010101010101010101010101c202080a060a04706f6f66f202290a180a133535313140732e77686174736170702e6e65741a015a1206e29da4efb88f208080b3c19c33";

#[test]
fn web_message_info_from_baileys() {
    let bytes = unhex(WEB_MESSAGE_INFO);
    let info = WebMessageInfo::decode(bytes.as_slice()).unwrap();
    let key = info.key.as_ref().unwrap();
    assert_eq!(key.remote_jid.as_deref(), Some("120363025246125486@g.us"));
    assert_eq!(key.from_me, Some(false));
    assert_eq!(key.id.as_deref(), Some("3EB0A1B2C3D4E5F6"));
    assert_eq!(key.participant.as_deref(), Some("123456789012345@lid"));
    assert_eq!(
        info.status,
        Some(web_message_info::Status::DeliveryAck as i32)
    );
    assert_eq!(
        info.message_stub_type,
        Some(web_message_info::StubType::GroupParticipantAdd as i32)
    );
    assert_eq!(info.message_stub_parameters, ["a", "b"]);
    assert_eq!(info.message_timestamp, Some(1_760_000_000));
    assert_eq!(info.push_name.as_deref(), Some("Ana"));
    assert_eq!(info.user_receipt[0].read_timestamp, Some(1_760_000_001));
    assert_eq!(info.reactions[0].text.as_deref(), Some("👍"));
    let msg = info.message.as_ref().unwrap();
    let text = msg.extended_text_message.as_ref().unwrap();
    assert_eq!(text.text.as_deref(), Some("olá @5511"));
    let ctx = text.context_info.as_ref().unwrap();
    assert_eq!(ctx.stanza_id.as_deref(), Some("ABC"));
    assert_eq!(
        ctx.quoted_message.as_ref().unwrap().conversation.as_deref(),
        Some("hi")
    );
    assert_eq!(ctx.mentioned_jid, ["5511@s.whatsapp.net"]);
    assert_eq!(ctx.expiration, Some(604_800));
    let mci = msg.message_context_info.as_ref().unwrap();
    assert_eq!(mci.device_list_metadata_version, Some(2));
    assert_eq!(mci.message_secret.as_deref(), Some(&[3u8; 32][..]));
    let dlm = mci.device_list_metadata.as_ref().unwrap();
    assert_eq!(dlm.sender_key_indexes, [1, 2]);
    assert_eq!(dlm.sender_timestamp, Some(1_700_000_000));
    assert_eq!(info.encode_to_vec(), bytes);
}

#[test]
fn message_content_types_from_baileys() {
    let bytes = unhex(MESSAGE);
    let msg = Message::decode(bytes.as_slice()).unwrap();
    let skdm = msg.sender_key_distribution_message.as_ref().unwrap();
    assert_eq!(skdm.group_id.as_deref(), Some("1@g.us"));
    let image = msg.image_message.as_ref().unwrap();
    assert_eq!(image.file_length, Some(12345));
    assert_eq!(
        (image.height, image.width, image.view_once),
        (Some(640), Some(480), Some(true))
    );
    assert_eq!(image.media_key.as_deref(), Some(&[6u8; 32][..]));
    assert_eq!(image.direct_path.as_deref(), Some("/v/x"));
    assert_eq!(
        msg.document_message.as_ref().unwrap().file_name.as_deref(),
        Some("a.pdf")
    );
    let audio = msg.audio_message.as_ref().unwrap();
    assert_eq!((audio.seconds, audio.ptt), (Some(7), Some(true)));
    let video = msg.video_message.as_ref().unwrap();
    assert_eq!(
        video.gif_attribution,
        Some(message::video_message::Attribution::Giphy as i32)
    );
    let protocol = msg.protocol_message.as_ref().unwrap();
    assert_eq!(
        protocol.r#type,
        Some(message::protocol_message::Type::MessageEdit as i32)
    );
    assert_eq!(
        protocol
            .edited_message
            .as_ref()
            .unwrap()
            .conversation
            .as_deref(),
        Some("edited")
    );
    assert_eq!(protocol.key.as_ref().unwrap().from_me, Some(true));
    assert_eq!(
        msg.sticker_message.as_ref().unwrap().is_animated,
        Some(true)
    );
    let dsm = msg.device_sent_message.as_ref().unwrap();
    assert_eq!(dsm.phash.as_deref(), Some("2:abc"));
    assert_eq!(
        dsm.message.as_ref().unwrap().conversation.as_deref(),
        Some("mine")
    );
    let eph = msg
        .ephemeral_message
        .as_ref()
        .unwrap()
        .message
        .as_ref()
        .unwrap();
    assert_eq!(eph.conversation.as_deref(), Some("poof"));
    assert_eq!(
        msg.reaction_message.as_ref().unwrap().text.as_deref(),
        Some("❤️")
    );
    assert_eq!(msg.encode_to_vec(), bytes);
}

//! ClientPayload and ADV messages encoded by the real Baileys 7.0.0-rc14 (protobufjs over its
//! WAProto.proto), decoded by our schemas: every field lands where WhatsApp put it, and
//! re-encoding gives the same bytes. Vectors made with Baileys' generateLoginNode /
//! generateRegistrationNode (DEFAULT_CONNECTION_CONFIG) and proto.ADV*.encode.
use wa_proto::client_payload::user_agent::{Platform, ReleaseChannel};
use wa_proto::client_payload::web_info::WebSubPlatform;
use wa_proto::client_payload::{ConnectReason, ConnectType};
use wa_proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, AdvSignedKeyIndexList, ClientPayload, ProtoMessage,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn round_trip<M: ProtoMessage + Default>(bytes: &[u8]) -> M {
    let m = M::decode(bytes).expect("decodes");
    assert_eq!(m.encode_to_vec(), bytes, "re-encodes to the same bytes");
    m
}

const LOGIN: &str = "088784b4f73918012a36080e120b080210b81718e082e0f1031a0330303022033030302a03302e313a074465736b746f704203302e3150005a02656e620255533202200060016801900103880201c80200";

const REGISTRATION: &str = "18002a36080e120b080210b81718e082e0f1031a0330303022033030302a03302e313a074465736b746f704203302e3150005a02656e6202555332022000600168019a01d5010a04000012341201051a20111111111111111111111111111111111111111111111111111111111111111122030000072a2022222222222222222222222222222222222222222222222222222222222222223240333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333a10f6f65c0607a1cdffd8752b051fc95edf422d0a064d6163204f531206080a100f1807180120012a171880502001300038014001480150015801600170017800880200";

#[test]
fn login_payload() {
    let p: ClientPayload = round_trip(&hex(LOGIN));
    assert_eq!(p.username, Some(15_551_234_567));
    assert_eq!(p.device, Some(3));
    assert_eq!((p.passive, p.pull), (Some(true), Some(true)));
    assert_eq!(p.lid_db_migrated, Some(false));
    assert_eq!(p.connect_type, Some(ConnectType::WifiUnknown as i32));
    assert_eq!(p.connect_reason, Some(ConnectReason::UserActivated as i32));
    let ua = p.user_agent.unwrap();
    assert_eq!(ua.platform, Some(Platform::Web as i32));
    let v = ua.app_version.unwrap();
    assert_eq!(
        (v.primary, v.secondary, v.tertiary),
        (Some(2), Some(3000), Some(1_043_857_760))
    );
    assert_eq!(ua.mcc.as_deref(), Some("000"));
    assert_eq!(ua.os_version.as_deref(), Some("0.1"));
    assert_eq!(ua.device.as_deref(), Some("Desktop"));
    assert_eq!(ua.release_channel, Some(ReleaseChannel::Release as i32));
    assert_eq!(ua.locale_language_iso6391.as_deref(), Some("en"));
    assert_eq!(ua.locale_country_iso31661_alpha2.as_deref(), Some("US"));
    assert_eq!(
        p.web_info.unwrap().web_sub_platform,
        Some(WebSubPlatform::WebBrowser as i32)
    );
}

#[test]
fn registration_payload() {
    let p: ClientPayload = round_trip(&hex(REGISTRATION));
    assert_eq!((p.passive, p.pull), (Some(false), Some(false)));
    assert_eq!(p.username, None);
    let d = p.device_pairing_data.unwrap();
    assert_eq!(d.e_regid.unwrap(), [0, 0, 0x12, 0x34]);
    assert_eq!(d.e_keytype.unwrap(), [5]);
    assert_eq!(d.e_ident.unwrap(), [0x11; 32]);
    assert_eq!(d.e_skey_id.unwrap(), [0, 0, 7]);
    assert_eq!(d.e_skey_val.unwrap(), [0x22; 32]);
    assert_eq!(d.e_skey_sig.unwrap(), [0x33; 64]);
    assert_eq!(d.build_hash.unwrap().len(), 16);
    assert_eq!(d.device_props.unwrap()[..8], hex("0a064d6163204f53")[..]);
}

#[test]
fn adv_messages() {
    let det: AdvDeviceIdentity = round_trip(&hex("08c0c4071080e2cfaa06180420012800"));
    assert_eq!(det.raw_id, Some(123_456));
    assert_eq!(det.timestamp, Some(1_700_000_000));
    assert_eq!(det.key_index, Some(4));
    assert_eq!(det.account_type, Some(AdvEncryptionType::Hosted as i32));
    assert_eq!(det.device_type, Some(AdvEncryptionType::E2ee as i32));

    let sdi: AdvSignedDeviceIdentity = round_trip(&hex(
        "0a1008c0c4071080e2cfaa06180420012800122044444444444444444444444444444444444444444444444444444444444444441a4055555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555224066666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666",
    ));
    assert_eq!(sdi.details.unwrap(), det.encode_to_vec());
    assert_eq!(sdi.account_signature_key.unwrap(), [0x44; 32]);
    assert_eq!(sdi.account_signature.unwrap(), [0x55; 64]);
    assert_eq!(sdi.device_signature.unwrap(), [0x66; 64]);

    let h: AdvSignedDeviceIdentityHmac = round_trip(&hex(
        "0a0a0a1008c0c4071080e2cf122077777777777777777777777777777777777777777777777777777777777777771801",
    ));
    assert_eq!(h.details.unwrap().len(), 10);
    assert_eq!(h.hmac.unwrap(), [0x77; 32]);
    assert_eq!(h.account_type, Some(AdvEncryptionType::Hosted as i32));

    let kil: AdvKeyIndexList = round_trip(&hex("08091081e2cfaa0618032205000203ac022800"));
    assert_eq!(kil.raw_id, Some(9));
    assert_eq!(kil.current_index, Some(3));
    assert_eq!(kil.valid_indexes, [0, 2, 3, 300]);
    assert_eq!(kil.account_type, Some(0));

    let skil: AdvSignedKeyIndexList = round_trip(&hex(
        "0a1308091081e2cfaa0618032205000203ac0228001240888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888888881a209999999999999999999999999999999999999999999999999999999999999999",
    ));
    assert_eq!(skil.details.unwrap(), kil.encode_to_vec());
    assert_eq!(skil.account_signature.unwrap(), [0x88; 64]);
    assert_eq!(skil.account_signature_key.unwrap(), [0x99; 32]);
}

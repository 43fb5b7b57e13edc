use super::operation::*;
use super::*;
use wa_store::{EngineKeyStore, MemoryEngine};

fn repository() -> SignalRepository {
    let keys: Arc<dyn KeyStore> = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
    SignalRepository::new(keys, AuthenticationCreds::generate(), None)
}

const GROUP: &str = "120363040000000001@g.us";
const ME: &str = "5511000000001@s.whatsapp.net";

#[test]
fn an_operation_reads_runs_and_hands_back_one_write() {
    let repo = repository();
    let mut op = repo.distribution_operation(GROUP, ME).unwrap();
    let name = op.target();
    let Step::Read(reqs) = op.step().unwrap() else {
        panic!("the sender key is read first");
    };
    assert_eq!(reqs, vec![(KeyType::SenderKey, vec![name.clone()])]);
    assert_eq!(repo.locks.len(), 1, "the lock is held from the first step");
    // Answered with the wrong number of maps: refused.
    assert!(op.feed(vec![]).is_err());
    op.asked = reqs;
    op.feed(vec![KeyMap::new()]).unwrap();
    let Step::Write(batch) = op.step().unwrap() else {
        panic!("then the operation runs");
    };
    assert_eq!(batch.sender_keys.len(), 1, "a new sender key is written");
    assert_eq!(batch.sender_keys[0].0.to_string(), name);
    assert!(matches!(op.finish().unwrap(), Outcome::Distribution(d) if !d.is_empty()));
    assert!(repo.locks.is_empty(), "finish releases the lock");
}

#[test]
fn a_run_that_misses_a_read_is_discarded_and_repeated() {
    let repo = repository();
    let mut op = repo.distribution_operation(GROUP, ME).unwrap();
    let name = op.target();
    assert!(matches!(op.step().unwrap(), Step::Read(_)));
    op.feed(vec![KeyMap::new()]).unwrap();
    // The run itself meets a key it was not handed: the Fed store records the miss, the
    // result (a created sender key) is dropped, and the key is asked for.
    op.speculate = None;
    op.values.clear();
    op.asked.clear();
    let step = op.run().unwrap();
    let Step::Read(reqs) = step else {
        panic!("a miss asks for the key, whatever the run produced");
    };
    assert_eq!(reqs, vec![(KeyType::SenderKey, vec![name])]);
    assert!(op.outcome.is_none());
    // An operation that keeps missing gives up with an error (and releases its lock).
    op.feed(vec![KeyMap::new()]).unwrap();
    op.rounds = MAX_ROUNDS;
    assert!(op.step().is_err());
    assert!(repo.locks.is_empty());
}

#[test]
fn a_second_operation_on_the_address_waits_and_a_dropped_one_frees_its_place() {
    let repo = repository();
    let mut first = repo.distribution_operation(GROUP, ME).unwrap();
    assert!(matches!(first.step().unwrap(), Step::Read(_)));
    let mut second = repo.distribution_operation(GROUP, ME).unwrap();
    assert!(matches!(second.step().unwrap(), Step::Wait));
    let mut third = repo.distribution_operation(GROUP, ME).unwrap();
    assert!(matches!(third.step().unwrap(), Step::Wait));
    // The second gives up while queued: the third is next.
    drop(second);
    first.release();
    let waited = futures_util::FutureExt::now_or_never(third.wait())
        .expect("the lock passed to the third")
        .unwrap();
    third.waited(waited);
    assert!(matches!(third.step().unwrap(), Step::Read(_)));
    third.release();
    drop(third);
    drop(first);
    assert!(repo.locks.is_empty());
}

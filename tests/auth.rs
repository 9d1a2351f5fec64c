//! Registry authentication. One test in its own binary: it sets DOCKER_CONFIG, which no other
//! test may see.

mod common;

use common::*;
use gocker::image::{Credentials, ImageStore, PullOptions};
use gocker::store::Paths;
use gocker::Kind;

#[test]
fn basic_auth_from_the_call_and_from_the_docker_config() {
    let reg = auth_registry();
    push_busybox(reg, "private/box:1");
    let reference = format!("{}/private/box:1", reg.addr);
    let root = root();
    let s = ImageStore::open(Paths::new(root.path())).unwrap();
    let empty = tempfile::tempdir().unwrap();
    // SAFETY: this binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var("DOCKER_CONFIG", empty.path()) };

    let err = s
        .pull(&reference, &PullOptions::default())
        .expect_err("anonymous is refused");
    assert_eq!(err.kind(), Kind::Permission, "{}", err.chain());

    let wrong = PullOptions {
        credentials: Some(Credentials {
            username: USER.into(),
            password: "wrong".into(),
        }),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let err = s
        .pull(&reference, &wrong)
        .expect_err("wrong password is refused");
    assert_eq!(err.kind(), Kind::Permission, "{}", err.chain());
    assert!(
        err.message().contains(&reg.addr),
        "names the registry: {}",
        err.message()
    );
    assert!(started.elapsed().as_secs() < 5, "no retry storm");

    let right = PullOptions {
        credentials: Some(Credentials {
            username: USER.into(),
            password: PASSWORD.into(),
        }),
        ..Default::default()
    };
    s.pull(&reference, &right).expect("pull with credentials");

    // From $DOCKER_CONFIG/config.json, as `docker login` writes it.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    unsafe { std::env::set_var("DOCKER_CONFIG", cfg.path()) };
    let root2 = common::root();
    let s2 = ImageStore::open(Paths::new(root2.path())).unwrap();
    s2.pull(&reference, &PullOptions::default())
        .expect("pull with docker config credentials");
}

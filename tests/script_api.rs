//! The script API's values: a spawned Spec is its container, an Image is a reference, and a
//! wrong argument says what was expected, against real containers and a real registry.

mod common;

use common::*;

fn busybox() -> String {
    let reg = registry();
    push_busybox(reg, "api/busybox:1");
    format!("{}/api/busybox:1", reg.addr)
}

/// After `c.spawn(...)`, the Spec is the container: id, exec, logs, wait, stop, kill,
/// remove all take it, and it prints with its container.
#[test]
fn a_spawned_spec_is_its_container() {
    let root = root();
    let image = busybox();
    let script = format!(
        r#"
        let c = container(pull("{image}", #{{ quiet: true }}));
        c.unshare(["pid", "mount"]); c.mount_rootfs(); c.set_name("api-spec");
        c.spawn(["sh", "-c", "echo started; sleep 30"], #{{ detach: true }});
        print(`id ${{c.id == find_container("api-spec").id}}`);
        print(`exec ${{exec(c, ["echo", "inside"]).stdout}}`);
        print(`method ${{c.exec(["hostname"]).code}}`);
        print(`spec ${{c}}`);
        print(`container ${{c.container}}`);
        print(`status ${{c.status}}`);
        print(`logs ${{logs(c)}}`);
        kill(c, "SIGKILL");
        print(`wait ${{wait(c)}}`);
        remove(c);
        print(`left ${{containers().len()}}`);
        "#
    );
    let out = gocker_ok(root.path(), &["-e", &script]);
    for want in [
        "id true",
        "exec inside",
        "method 0",
        "logs started",
        "status running",
        "wait 137",
        "left 0",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    assert!(
        out.contains("spec Spec(") && out.contains("container="),
        "{out}"
    );
    assert!(
        out.contains("container Container(api-spec, running"),
        "{out}"
    );
    assert!(!out.contains("gocker::"), "no Rust type names: {out}");
}

/// A Spec that was never spawned is no container, and says so.
#[test]
fn an_unspawned_spec_is_not_a_container() {
    let root = root();
    for script in [
        r#"kill(container("busybox"))"#,
        r#"container("busybox").id"#,
    ] {
        let o = gocker(root.path(), &["-e", script]);
        assert!(!o.status.success(), "{script}");
        let e = err(&o);
        assert!(
            e.contains("no container until it is spawned"),
            "{script}: {e}"
        );
        assert!(!e.contains("gocker::"), "{e}");
    }
}

/// Every function that takes an image reference takes an Image too.
#[test]
fn an_image_is_a_reference() {
    let root = root();
    let image = busybox();
    let script = format!(
        r#"
        let img = pull("{image}", #{{ quiet: true }});
        let dir = mount_image(img);
        print(`mounted ${{dir != ""}}`);
        unmount_image(img);
        print(`image ${{image(img).id == img.id}}`);
        tag(img, "api-other:2");
        print(`tagged ${{image("api-other:2").id == img.id}}`);
        print(`printed ${{img}}`);
        rmi(image("api-other:2"));
        "#
    );
    let out = gocker_ok(root.path(), &["-e", &script]);
    for want in [
        "mounted true",
        "image true",
        "tagged true",
        "printed Image(",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    assert!(mounts_under(root.path()).is_empty());
}

/// A call with wrong argument types names what it expected, not Rhai's internal types.
#[test]
fn wrong_types_say_what_was_expected() {
    let root = root();
    for (script, want) in [
        (
            r#"container("busybox").spawn("echo hi")"#,
            "spawn: the command must be an array of strings, got a string",
        ),
        (
            r#"container("busybox").set_hostname(42)"#,
            "set_hostname does not take (Spec, integer): it is set_hostname(spec, name)",
        ),
        (
            r#"mount_image(42)"#,
            "mount_image: the image must be a reference",
        ),
        (
            r#"kill(42)"#,
            "expected a container (a Container, a spawned Spec, or a name or id), got a number",
        ),
        (r#"contaner("busybox")"#, "did you mean container?"),
    ] {
        let o = gocker(root.path(), &["-e", script]);
        let e = err(&o);
        assert!(!o.status.success() && e.contains(want), "{script}: {e}");
        assert!(
            !e.contains("ImmutableString") && !e.contains("Function not found"),
            "{script}: {e}"
        );
    }
}

/// `-e` reads its code as the REPL reads a line: help(run) needs no quotes there either,
/// and a variable of the code keeps its meaning.
#[test]
fn help_in_e_takes_a_bare_name() {
    let root = root();
    let run = gocker_ok(root.path(), &["-e", "help(run)"]);
    assert!(run.contains("run(image"), "{run}");
    let ty = gocker_ok(root.path(), &["-e", "help( Container )"]);
    assert!(
        ty.contains("Container") && ty.contains("restart_count"),
        "{ty}"
    );
    let var = gocker_ok(root.path(), &["-e", r#"let run = "pull"; help(run)"#]);
    assert!(var.starts_with("pull(ref)"), "{var}");
}

//! `use_state!`, `StateRef` and sessions, as page code uses them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier};
use std::thread;

use pagestate::{state, use_state, ScriptRunContext, Session, StateError, StateRef};

#[test]
fn every_macro_form_compiles_and_works() {
    let session = Session::new();
    session.run(|| {
        let count = use_state!("count", factory = || 0_i64);
        assert_eq!(count.get(), Ok(0));
        count.set(3).unwrap();

        let name = use_state!("name", type = String);
        assert!(!name.is_initialized());
        name.set("Ada".to_owned()).unwrap();

        let title: StateRef<String> = use_state!("title");
        assert!(matches!(title.get(), Err(StateError::Uninitialized { .. })));

        let rows = use_state!(
            "rows",
            namespace = module_path!(),
            factory = Vec::<u32>::new
        );
        rows.update(|rows| rows.push(7)).unwrap();
        assert_eq!(rows.namespace(), Some(module_path!()));

        for i in 0..3 {
            let cell = use_state!(format!("cell-{i}"), factory = || 0.0_f64);
            cell.set(i as f64).unwrap();
        }
    });
    // A rerun of the same page sees what the previous run left.
    session.run(|| {
        assert_eq!(use_state!("count", factory = || 0_i64).get(), Ok(3));
        assert_eq!(
            use_state!("name", type = String).get().as_deref(),
            Ok("Ada")
        );
        let rows = use_state!(
            "rows",
            namespace = module_path!(),
            factory = Vec::<u32>::new
        );
        assert_eq!(rows.get(), Ok(vec![7]));
        let cell = use_state!(format!("cell-{}", 2), factory = || 0.0_f64);
        assert_eq!(cell.get(), Ok(2.0));
    });
}

#[test]
fn sessions_are_isolated() {
    let page = || {
        let visits = use_state!("visits", factory = || 0_u32);
        visits.reduce(|n, by| n + by, 1).unwrap()
    };
    let alice = Session::new();
    let bob = Session::new();
    assert_eq!(alice.run(page), 1);
    assert_eq!(alice.run(page), 2);
    assert_eq!(bob.run(page), 1);
    assert_eq!(alice.run(page), 3);
    assert_ne!(alice.id(), bob.id());
}

#[test]
fn namespaces_are_isolated() {
    Session::new().run(|| {
        let global = use_state!("shared-key", factory = || "session");
        let page_a = use_state!("shared-key", namespace = "page-a", factory = || "a");
        let page_b = use_state!(
            "shared-key",
            namespace = String::from("page-b"),
            factory = || "b"
        );
        assert_eq!(global.get(), Ok("session"));
        assert_eq!(page_a.get(), Ok("a"));
        assert_eq!(page_b.get(), Ok("b"));
        page_a.clear();
        assert_eq!(global.get(), Ok("session"));
        assert_eq!(page_b.get(), Ok("b"));
    });
}

#[test]
fn reducers_from_eight_threads_lose_no_update() {
    let session = Session::new();
    let total = session.run(|| use_state!("total", factory = || 0_u64));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let total = total.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                for i in 0..2_000 {
                    if (i + t) % 2 == 0 {
                        total.reduce(|sum, by| sum + by, 1).unwrap();
                    } else {
                        total.update(|sum| *sum += 1).unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(total.get(), Ok(16_000));
}

#[test]
fn reduce_returns_the_new_value_and_skips_uninitialised_state() {
    let session = Session::new();
    let n = session.state::<i32>(None, "n");
    let mut called = false;
    let result = n.reduce(
        |v, _: ()| {
            called = true;
            v
        },
        (),
    );
    assert!(matches!(result, Err(StateError::Uninitialized { .. })));
    assert!(!called, "the reducer ran on an uninitialised state");
    n.set(2).unwrap();
    assert_eq!(n.reduce(|v, by| v + by, 3), Ok(5));
    assert_eq!(n.get(), Ok(5));
}

#[test]
fn a_panicking_reducer_keeps_the_previous_value() {
    let session = Session::new();
    let n = session.state::<i32>(None, "n");
    n.set(10).unwrap();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        n.reduce(|_, _: ()| panic!("reducer failed"), ()).unwrap();
    }));
    assert_eq!(panic_text(panicked).as_deref(), Some("reducer failed"));
    assert_eq!(n.get(), Ok(10));
    assert_eq!(
        n.reduce(|v, by| v + by, 1),
        Ok(11),
        "the state is not poisoned"
    );
}

#[test]
fn clear_uninitialises_and_is_a_no_op_when_absent() {
    let session = Session::new();
    let s = session.state::<String>(None, "s");
    s.clear();
    assert!(!s.is_initialized());
    s.set("x".into()).unwrap();
    assert!(s.is_initialized());
    s.clear();
    assert!(!s.is_initialized());
    assert!(matches!(s.get(), Err(StateError::Uninitialized { .. })));
}

#[test]
fn init_sets_only_when_absent() {
    let session = Session::new();
    let s = session.state::<u8>(None, "s");
    assert!(s.init(|| 1));
    assert!(!s.init(|| panic!("the factory of an initialised state ran")));
    assert_eq!(s.get(), Ok(1));
    // The macro's factory likewise runs once per state, not once per rerun.
    let mut factory_runs = 0;
    for _ in 0..3 {
        session.run(|| {
            use_state!(
                "s2",
                factory = || {
                    factory_runs += 1;
                    5_u8
                }
            );
        });
    }
    assert_eq!(factory_runs, 1);
}

#[test]
fn type_mismatch_never_touches_the_stored_value() {
    let session = Session::new();
    let as_int = session.state::<i64>(None, "shape");
    as_int.set(7).unwrap();
    let as_text = session.state::<String>(None, "shape");
    let error = as_text.get().unwrap_err();
    assert_eq!(
        error,
        StateError::TypeMismatch {
            namespace: None,
            key: "shape".into(),
            expected: "alloc::string::String",
            found: "i64",
        }
    );
    assert_eq!(
        error.to_string(),
        "state `shape` in the session namespace holds a `i64`, not a `alloc::string::String`: \
         access it as `i64`, or `clear()` it before storing another type"
    );
    assert_eq!(as_text.set("seven".into()), Err(error.clone()));
    assert_eq!(as_text.update(|s| s.push('!')), Err(error.clone()));
    assert!(!as_text.init(String::new));
    assert_eq!(as_int.get(), Ok(7), "a mistyped access changed the value");
    // Clearing is untyped: after it the key may take another type.
    as_text.clear();
    as_text.set("seven".into()).unwrap();
    assert!(
        matches!(as_int.get(), Err(StateError::TypeMismatch { found, .. }) if found.contains("String"))
    );
}

#[test]
fn missing_context_is_an_error_for_the_function_and_a_panic_for_the_macro() {
    let error = state::<i64>("ns", "k").unwrap_err();
    assert_eq!(
        error,
        StateError::NoContext {
            namespace: Some("ns".into()),
            key: "k".into()
        }
    );
    assert!(error.to_string().contains("Session::run"));

    let panic = catch_unwind(|| {
        use_state!("k", factory = || 0_i64);
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("state `k`"), "{message}");
    assert!(message.contains("Session::run"), "{message}");
    assert!(message.contains("ScriptRunContext::attach"), "{message}");
}

#[test]
fn context_is_restored_after_a_panicking_page() {
    let outer = Session::new();
    let inner = Session::new();
    outer.run(|| {
        let result = catch_unwind(AssertUnwindSafe(|| {
            inner.run(|| {
                assert_eq!(ScriptRunContext::current().unwrap().session(), &inner);
                panic!("page failed");
            })
        }));
        assert_eq!(panic_text(result).as_deref(), Some("page failed"));
        assert_eq!(ScriptRunContext::current().unwrap().session(), &outer);
    });
    assert!(ScriptRunContext::current().is_none());
}

#[test]
fn nested_runs_restore_the_outer_session() {
    let a = Session::new();
    let b = Session::new();
    a.run(|| {
        use_state!("who", factory = || "a");
        b.run(|| {
            use_state!("who", factory = || "b");
            assert_eq!(use_state!("who", type = &str).get(), Ok("b"));
        });
        assert_eq!(use_state!("who", type = &str).get(), Ok("a"));
    });
}

#[test]
fn a_state_ref_works_from_another_thread() {
    let session = Session::new();
    let count = session.run(|| use_state!("count", factory = || 1_i32));
    let worker = thread::spawn(move || {
        assert!(ScriptRunContext::current().is_none());
        count.reduce(|n, by| n * by, 10).unwrap()
    });
    assert_eq!(worker.join().unwrap(), 10);
    assert_eq!(session.state::<i32>(None, "count").get(), Ok(10));
}

#[test]
fn an_attached_context_carries_the_session_to_a_spawned_thread() {
    let session = Session::new();
    session.run(|| {
        use_state!("greeting", factory = || "hello".to_owned());
        let ctx = ScriptRunContext::current().unwrap();
        thread::spawn(move || {
            {
                let _guard = ctx.attach();
                let greeting = use_state!("greeting", type = String);
                greeting.update(|g| g.push_str(", world")).unwrap();
            }
            assert!(
                ScriptRunContext::current().is_none(),
                "the guard left the context attached"
            );
        })
        .join()
        .unwrap();
        assert_eq!(
            use_state!("greeting", type = String).get().as_deref(),
            Ok("hello, world")
        );
    });
}

#[test]
fn a_guard_restores_the_context_when_its_thread_panics() {
    let session = Session::new();
    let ctx = ScriptRunContext::new(session.clone());
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _guard = ctx.attach();
        panic!("job failed");
    }));
    assert_eq!(panic_text(result).as_deref(), Some("job failed"));
    assert!(ScriptRunContext::current().is_none());
}

#[test]
fn dropping_the_last_handle_frees_the_state() {
    struct Tracked(#[allow(dead_code)] Arc<()>);
    let alive = Arc::new(());
    let session = Session::new();
    session
        .state::<Tracked>(None, "t")
        .set(Tracked(Arc::clone(&alive)))
        .unwrap();
    let clone = session.clone();
    drop(session);
    assert_eq!(
        Arc::strong_count(&alive),
        2,
        "state freed while a handle remains"
    );
    drop(clone);
    assert_eq!(Arc::strong_count(&alive), 1, "state outlived its session");
}

#[test]
fn close_frees_the_state_and_keeps_old_handles_coherent() {
    struct Tracked(#[allow(dead_code)] Arc<()>);
    let alive = Arc::new(());
    let session = Session::new();
    let tracked = session.state::<Tracked>(None, "t");
    tracked.set(Tracked(Arc::clone(&alive))).unwrap();
    let count = session.state::<i32>(None, "count");
    count.set(1).unwrap();

    session.close();
    assert_eq!(Arc::strong_count(&alive), 1, "close kept a value alive");
    assert!(!count.is_initialized());
    // A handle from before `close` and one from after see the same value.
    count.set(2).unwrap();
    assert_eq!(session.state::<i32>(None, "count").get(), Ok(2));
    session.state::<i32>(None, "count").set(3).unwrap();
    assert_eq!(count.get(), Ok(3));
}

#[test]
fn host_code_reaches_a_session_without_entering_it() {
    let session = Session::new();
    session.run(|| {
        use_state!("theme", factory = || "dark".to_owned());
    });
    assert!(ScriptRunContext::current().is_none());
    let theme = session.state::<String>(None, "theme");
    assert_eq!(theme.get().as_deref(), Ok("dark"));
    assert_eq!(theme.key(), "theme");
    assert_eq!(theme.namespace(), None);
    assert_eq!(theme.session(), &session);
}

#[test]
fn a_closure_touching_its_own_state_panics_instead_of_deadlocking() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let session = Session::new();
        let count = session.state::<i64>(None, "count");
        count.set(1).unwrap();
        let message = |outcome: std::thread::Result<()>| {
            outcome
                .err()
                .and_then(|panic| panic.downcast_ref::<String>().cloned())
        };
        let same = count.clone();
        let in_update = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            count.update(|n| *n += same.get().unwrap()).unwrap();
        }));
        let in_with = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            count.with(|_| same.set(5).unwrap()).unwrap();
        }));
        // Reading inside a read is fine, and the state is still usable.
        let nested_read = count.with(|n| *n + same.get().unwrap());
        let _ = done.send((
            message(in_update),
            message(in_with),
            nested_read,
            count.get(),
        ));
    });
    let (in_update, in_with, nested_read, after) = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("deadlocked");
    for message in [in_update, in_with] {
        let message = message.expect("a panic with a message");
        assert!(
            message.contains("state `count` in the session namespace was used inside its own"),
            "{message}"
        );
    }
    assert_eq!(nested_read, Ok(2));
    assert_eq!(after, Ok(1));
}

#[test]
fn handles_are_clone_send_sync_and_static() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Session>();
    shareable::<StateRef<Vec<String>>>();
    shareable::<ScriptRunContext>();
    shareable::<pagestate::SessionId>();
    // An error travels across threads and into `Box<dyn Error + Send + Sync>`.
    let error: Box<dyn std::error::Error + Send + Sync> =
        Box::new(Session::new().state::<u8>(None, "x").get().unwrap_err());
    assert!(error.to_string().contains("`x`"));
}

/// The message of a caught panic, if it had one.
fn panic_text<T>(outcome: std::thread::Result<T>) -> Option<String> {
    let panic = outcome.err()?;
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
}

/// Runs `scenario` on its own thread and returns its result, or fails when
/// it does not finish within a minute (a deadlock) instead of hanging.
fn within_a_minute<T: Send + 'static>(scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(scenario());
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("deadlocked")
}

#[test]
fn closing_the_session_inside_its_own_update_or_with_panics_instead_of_deadlocking() {
    let (in_update, in_with, after) = within_a_minute(|| {
        let session = Session::new();
        let count = session.state::<i64>("page", "count");
        count.set(1).unwrap();
        let in_update = catch_unwind(AssertUnwindSafe(|| {
            count.update(|_| session.close()).unwrap();
        }));
        let in_with = catch_unwind(AssertUnwindSafe(|| {
            count.with(|_| session.close()).unwrap();
        }));
        // Nothing was closed, and closing afterwards works.
        let kept = count.get();
        session.close();
        (
            panic_text(in_update),
            panic_text(in_with),
            (kept, count.get()),
        )
    });
    for message in [in_update, in_with] {
        let message = message.expect("a panic with a message");
        assert!(
            message.starts_with("Session::close was called inside an `update`, `reduce` or `with` closure of state `count` in namespace `page`"),
            "{message}"
        );
    }
    assert_eq!(after.0, Ok(1));
    assert!(matches!(after.1, Err(StateError::Uninitialized { .. })));
}

#[test]
fn closing_another_session_inside_a_closure_works() {
    let closed = within_a_minute(|| {
        let (a, b) = (Session::new(), Session::new());
        let count = a.state::<i64>(None, "count");
        count.set(1).unwrap();
        b.state::<i64>(None, "count").set(2).unwrap();
        count.update(|_| b.close()).unwrap();
        (count.get(), b.state::<i64>(None, "count").is_initialized())
    });
    assert_eq!(closed, (Ok(1), false));
}

#[test]
fn a_reducer_that_writes_its_own_state_panics_with_a_message() {
    let message = within_a_minute(|| {
        let session = Session::new();
        let total = session.state::<i64>(None, "total");
        total.set(1).unwrap();
        let same = total.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            total
                .reduce(
                    |sum, by| {
                        same.set(100).unwrap();
                        sum + by
                    },
                    1,
                )
                .unwrap();
        }));
        (panic_text(outcome), total.get())
    });
    let (message, after) = message;
    let message = message.expect("a panic with a message");
    assert!(
        message.starts_with(
            "state `total` in the session namespace was used inside its own `update`, `reduce` or `with` closure"
        ),
        "{message}"
    );
    assert_eq!(after, Ok(1), "the state keeps its value");
}

#[test]
fn every_state_error_names_its_namespace_and_key() {
    let session = Session::new();
    session.state::<i64>("page", "typed").set(1).unwrap();
    session.state::<i64>(None, "typed").set(1).unwrap();
    for (namespace, address) in [
        (Some("page"), "state `{key}` in namespace `page`"),
        (None, "state `{key}` in the session namespace"),
    ] {
        let uninitialized = session
            .state::<i64>(namespace, "missing")
            .get()
            .unwrap_err();
        let mismatch = session
            .state::<String>(namespace, "typed")
            .get()
            .unwrap_err();
        let no_context = state::<i64>(namespace, "anywhere").unwrap_err();
        for (error, key) in [
            (uninitialized, "missing"),
            (mismatch, "typed"),
            (no_context, "anywhere"),
        ] {
            let named = address.replace("{key}", key);
            let text = error.to_string();
            assert!(text.starts_with(&named), "{error:?}: {text}");
        }
    }
    let mismatch = session.state::<String>("page", "typed").get().unwrap_err();
    assert!(
        mismatch
            .to_string()
            .contains("holds a `i64`, not a `alloc::string::String`"),
        "{mismatch}"
    );
}

#[test]
fn guards_dropped_out_of_order_restore_by_identity() {
    let (a, b, c) = (Session::new(), Session::new(), Session::new());
    let current = || ScriptRunContext::current().map(|ctx| ctx.session().id());
    let guard_a = ScriptRunContext::new(a.clone()).attach();
    let guard_b = ScriptRunContext::new(b.clone()).attach();
    let guard_c = ScriptRunContext::new(c.clone()).attach();
    drop(guard_b);
    assert_eq!(
        current(),
        Some(c.id()),
        "c's guard is alive: c stays current"
    );
    drop(guard_a);
    assert_eq!(current(), Some(c.id()));
    drop(guard_c);
    assert_eq!(current(), None, "every guard dropped: no context");

    // Reverse order still restores step by step.
    let guard_a = ScriptRunContext::new(a.clone()).attach();
    let guard_b = ScriptRunContext::new(b.clone()).attach();
    drop(guard_b);
    assert_eq!(current(), Some(a.id()));
    drop(guard_a);
    assert_eq!(current(), None);
}

#[test]
fn a_session_attached_out_of_order_is_freed_when_its_guards_are_gone() {
    struct Tracked(#[allow(dead_code)] Arc<()>);
    let alive = Arc::new(());
    let freed = within_a_minute({
        let alive = alive.clone();
        move || {
            let (a, b) = (Session::new(), Session::new());
            a.state::<Tracked>(None, "t")
                .set(Tracked(alive.clone()))
                .unwrap();
            let guard_a = ScriptRunContext::new(a).attach();
            let guard_b = ScriptRunContext::new(b.clone()).attach();
            drop(guard_a);
            drop(guard_b);
            // Every handle of `a` is gone now, so its value is dropped
            // while the thread lives on: only this closure's and the
            // test's counts are left.
            let freed = Arc::strong_count(&alive) == 2;
            (freed, ScriptRunContext::current().is_none())
        }
    });
    assert_eq!(freed, (true, true));
}

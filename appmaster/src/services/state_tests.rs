use super::*;

fn plan(name: &str, instances: u32, max_restarts: i32, depends: &[&str]) -> ServicePlan {
    ServicePlan {
        name: name.into(),
        instances,
        max_restarts,
        allow_failures: false,
        depends: depends.iter().map(|d| d.to_string()).collect(),
    }
}

fn launched(actions: &[Action]) -> Vec<(WorkerId, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { worker, service } => Some((*worker, service.clone())),
            _ => None,
        })
        .collect()
}

fn finish(actions: &[Action]) -> Option<(Outcome, String)> {
    actions.iter().find_map(|a| match a {
        Action::Finish {
            outcome,
            diagnostics,
        } => Some((*outcome, diagnostics.clone())),
        _ => None,
    })
}

fn stopped(actions: &[Action]) -> Vec<WorkerId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Stop(w) => Some(*w),
            _ => None,
        })
        .collect()
}

#[test]
fn a_service_starts_once_its_dependency_runs() {
    let (mut s, first) = Services::new(
        vec![plan("server", 1, 0, &[]), plan("client", 2, 0, &["server"])],
        false,
    );
    assert_eq!(launched(&first), vec![(1, "server".to_string())]);
    let next = s.on_started(1, "container_1", "host-a");
    assert_eq!(
        launched(&next),
        vec![(2, "client".to_string()), (3, "client".to_string())]
    );
    assert_eq!(s.instance(1).unwrap().state, InstanceState::Running);
    assert_eq!(s.instance(3).unwrap().name, "client_1");
}

#[test]
fn the_application_succeeds_when_every_service_has_finished() {
    let (mut s, _) = Services::new(vec![plan("a", 1, 0, &[]), plan("b", 1, 0, &[])], false);
    s.on_started(1, "c1", "h");
    s.on_started(2, "c2", "h");
    assert_eq!(finish(&s.on_exited(1, true, "")), None);
    let end = s.on_exited(2, true, "");
    assert_eq!(finish(&end).unwrap().0, Outcome::Succeeded);
    assert!(s.is_finished());
}

#[test]
fn failures_are_restarted_within_max_restarts_then_fail_the_application() {
    let (mut s, _) = Services::new(vec![plan("a", 1, 2, &[]), plan("b", 1, 0, &[])], false);
    s.on_started(2, "cb", "h");
    let r1 = s.on_exited(1, false, "exited 1");
    assert_eq!(launched(&r1), vec![(3, "a".to_string())]);
    assert_eq!(s.instance(3).unwrap().name, "a_1");
    let r2 = s.on_exited(3, false, "exited 1");
    assert_eq!(launched(&r2), vec![(4, "a".to_string())]);
    let end = s.on_exited(4, false, "exited 3");
    let (outcome, why) = finish(&end).unwrap();
    assert_eq!(outcome, Outcome::Failed);
    assert!(why.contains("service a failed: a_2 exited 3"), "{why}");
    assert!(why.contains("2 restarts"), "{why}");
    // The other service's container is stopped on the way out.
    assert_eq!(stopped(&end), vec![2]);
    assert_eq!(s.instance(2).unwrap().state, InstanceState::Killed);
}

#[test]
fn restart_always_keeps_replacing() {
    let (mut s, _) = Services::new(vec![plan("a", 1, -1, &[])], false);
    let mut worker = 1;
    for _ in 0..50 {
        let next = s.on_exited(worker, false, "crash");
        assert_eq!(finish(&next), None);
        worker = launched(&next)[0].0;
    }
}

#[test]
fn allowed_failures_do_not_end_the_application() {
    // Services start in name order: `a` is worker 1.
    let mut flaky = plan("a", 1, 0, &[]);
    flaky.allow_failures = true;
    let (mut s, _) = Services::new(vec![flaky, plan("b", 1, 0, &[])], false);
    s.on_started(2, "cb", "h");
    let after = s.on_exited(1, false, "exited 1");
    assert_eq!(finish(&after), None);
    assert!(launched(&after).is_empty());
    assert_eq!(s.instance(1).unwrap().state, InstanceState::Failed);
    let end = s.on_exited(2, true, "");
    assert_eq!(finish(&end).unwrap().0, Outcome::Succeeded);
}

#[test]
fn a_dependent_of_a_failed_service_never_starts_and_says_so() {
    let mut dep = plan("dep", 1, 0, &[]);
    dep.allow_failures = true;
    let (mut s, _) = Services::new(vec![dep, plan("after", 1, 0, &["dep"])], false);
    let end = s.on_exited(1, false, "exited 2");
    let (outcome, why) = finish(&end).unwrap();
    assert_eq!(outcome, Outcome::Failed);
    assert!(why.contains("after"), "{why}");
}

#[test]
fn scale_up_and_down_stops_the_newest() {
    let (mut s, _) = Services::new(vec![plan("w", 1, 0, &[])], false);
    s.on_started(1, "c1", "h");
    let up = s.scale("w", 3).unwrap();
    assert_eq!(
        launched(&up),
        vec![(2, "w".to_string()), (3, "w".to_string())]
    );
    let down = s.scale("w", 1).unwrap();
    assert_eq!(stopped(&down), vec![3, 2]);
    // Their exits afterwards change nothing and restart nothing.
    assert!(s.on_exited(3, false, "killed").is_empty());
    assert!(s.on_exited(2, false, "killed").is_empty());
    assert_eq!(s.instance(1).unwrap().state, InstanceState::Running);
    assert!(s.scale("nope", 1).unwrap_err().contains("it has: w"));
}

#[test]
fn a_killed_container_is_not_replaced_and_the_last_one_ends_the_application() {
    let (mut s, _) = Services::new(vec![plan("w", 2, 5, &[])], false);
    s.on_started(1, "c1", "h");
    s.on_started(2, "c2", "h");
    let killed = s.kill("w_0").unwrap();
    assert_eq!(stopped(&killed), vec![1]);
    assert!(launched(&killed).is_empty());
    assert!(s.kill("w_0").unwrap_err().contains("already ended"));
    assert!(s.kill("w_9").is_err());
    let end = s.kill("w_1").unwrap();
    assert_eq!(finish(&end).unwrap().0, Outcome::Succeeded);
}

#[test]
fn with_a_master_script_the_script_ends_the_application() {
    let (mut s, first) = Services::new(vec![plan("w", 1, 0, &[])], true);
    assert_eq!(launched(&first).len(), 1);
    // All services done: the application waits for the master script.
    assert_eq!(finish(&s.on_exited(1, true, "")), None);
    let end = s.on_master_exited(Some(3));
    let (outcome, why) = finish(&end).unwrap();
    assert_eq!(outcome, Outcome::Failed);
    assert!(why.contains("exited 3"));
    // A master script alone, with no services, is an application too.
    let (mut alone, none) = Services::new(vec![], true);
    assert!(none.is_empty());
    assert_eq!(
        finish(&alone.on_master_exited(Some(0))).unwrap().0,
        Outcome::Succeeded
    );
}

#[test]
fn shutdown_stops_everything_once() {
    let (mut s, _) = Services::new(vec![plan("a", 2, 0, &[])], false);
    s.on_started(1, "c1", "h");
    let end = s.shutdown(Outcome::Killed, "by request".into());
    assert_eq!(stopped(&end), vec![1, 2]);
    assert_eq!(
        finish(&end),
        Some((Outcome::Killed, "by request".to_string()))
    );
    assert!(finish(&s.shutdown(Outcome::Succeeded, String::new())).is_none());
    // Late exits after the end restart nothing.
    assert!(launched(&s.on_exited(1, false, "stopped")).is_empty());
}

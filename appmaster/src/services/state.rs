//! What an application's services are doing, and what to do next: a state machine fed
//! the launcher's events and the users' commands, answering with actions for the
//! application master to carry out. No I/O and no clock, so tests feed it events.

use serde::{Deserialize, Serialize};
use spindle_job::wire::WorkerId;
use std::collections::BTreeMap;

/// One service as the state machine needs it (from the spec's `services`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePlan {
    pub name: String,
    pub instances: u32,
    /// Replacements after failures; -1 is always.
    pub max_restarts: i32,
    /// A failure beyond the restarts does not fail the application.
    pub allow_failures: bool,
    /// Started once every instance of these is running (or has succeeded).
    pub depends: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceState {
    /// Asked for; no container yet.
    Requested,
    Running,
    Succeeded,
    Failed,
    /// Stopped by a user (`container kill`, `scale`, `shutdown`).
    Killed,
}

impl InstanceState {
    pub fn is_active(self) -> bool {
        matches!(self, InstanceState::Requested | InstanceState::Running)
    }
}

/// One container of a service, as `spindle container ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub service: String,
    /// `<service>_<n>`: numbers count up, a restart gets the next one.
    pub name: String,
    pub state: InstanceState,
    /// The YARN container, once granted.
    pub container: Option<String>,
    pub host: Option<String>,
    /// Why it ended, when it did not succeed.
    pub diagnostics: Option<String>,
}

/// How the application ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Succeeded,
    Failed,
    Killed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask for a container of `service` and run instance `worker` in it.
    Launch { worker: WorkerId, service: String },
    /// Stop this instance's container (or drop its ask).
    Stop(WorkerId),
    /// This instance changed: publish it.
    Changed(WorkerId),
    /// Unregister with this outcome (after the stops before it).
    Finish {
        outcome: Outcome,
        diagnostics: String,
    },
}

struct Service {
    plan: ServicePlan,
    /// Instances wanted now (`scale` and `container kill` change it).
    target: u32,
    restarts: u32,
    /// Its instances have been asked for (its dependencies are up).
    started: bool,
    next_number: u32,
}

pub struct Services {
    services: BTreeMap<String, Service>,
    instances: BTreeMap<WorkerId, Instance>,
    next_worker: WorkerId,
    /// Whether a master script runs: then it, not the services, ends the application.
    master_script: bool,
    finished: bool,
}

impl Services {
    /// The services and the actions that start those with no dependencies.
    pub fn new(plans: Vec<ServicePlan>, master_script: bool) -> (Services, Vec<Action>) {
        let services = plans
            .into_iter()
            .map(|plan| {
                let s = Service {
                    target: plan.instances,
                    restarts: 0,
                    started: false,
                    next_number: 0,
                    plan,
                };
                (s.plan.name.clone(), s)
            })
            .collect();
        let mut me = Services {
            services,
            instances: BTreeMap::new(),
            next_worker: 1,
            master_script,
            finished: false,
        };
        let mut actions = Vec::new();
        me.progress(&mut actions);
        (me, actions)
    }

    pub fn instances(&self) -> impl Iterator<Item = (&WorkerId, &Instance)> {
        self.instances.iter()
    }

    pub fn instance(&self, worker: WorkerId) -> Option<&Instance> {
        self.instances.get(&worker)
    }

    /// The instances `service` should have running now.
    pub fn target(&self, service: &str) -> Option<u32> {
        self.services.get(service).map(|s| s.target)
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// A container was granted and started.
    pub fn on_started(&mut self, worker: WorkerId, container: &str, host: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(i) = self.instances.get_mut(&worker) else {
            return actions;
        };
        i.container = Some(container.to_string());
        i.host = Some(host.to_string());
        if i.state == InstanceState::Requested {
            i.state = InstanceState::Running;
        }
        actions.push(Action::Changed(worker));
        self.progress(&mut actions);
        actions
    }

    /// A container ended (or never started).
    pub fn on_exited(&mut self, worker: WorkerId, success: bool, why: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(i) = self.instances.get_mut(&worker) else {
            return actions;
        };
        if !i.state.is_active() {
            // Stopped by a user: already marked killed.
            return actions;
        }
        i.state = if success {
            InstanceState::Succeeded
        } else {
            InstanceState::Failed
        };
        if !success {
            i.diagnostics = Some(why.to_string());
        }
        actions.push(Action::Changed(worker));
        let name = i.service.clone();
        let instance = i.name.clone();
        if !success && !self.finished {
            let s = self
                .services
                .get_mut(&name)
                .expect("instances belong to services");
            let may_restart = s.plan.max_restarts < 0 || s.restarts < s.plan.max_restarts as u32;
            if may_restart {
                s.restarts += 1;
                actions.push(self.launch(&name));
            } else if !s.plan.allow_failures {
                let why = format!(
                    "service {name} failed: {instance} {why} (after {} restarts)",
                    s.restarts
                );
                self.finish(Outcome::Failed, why, &mut actions);
                return actions;
            } else {
                // Allowed to fail: one instance fewer is wanted.
                s.target = s.target.saturating_sub(1);
            }
        } else if success {
            let s = self
                .services
                .get_mut(&name)
                .expect("instances belong to services");
            s.target = s.target.saturating_sub(1);
        }
        self.progress(&mut actions);
        actions
    }

    /// `scale SERVICE N`: start or stop instances (the newest first) to have `n`.
    pub fn scale(&mut self, service: &str, n: u32) -> Result<Vec<Action>, String> {
        let Some(s) = self.services.get_mut(service) else {
            return Err(self.unknown_service(service));
        };
        s.target = n;
        let mut actions = Vec::new();
        if s.started {
            let active: Vec<WorkerId> = self.active_of(service);
            for &worker in active.iter().skip(n as usize).rev() {
                self.kill_instance(worker, &mut actions);
            }
        }
        self.progress(&mut actions);
        Ok(actions)
    }

    /// `container kill NAME`: stops one instance for good (it is not replaced).
    pub fn kill(&mut self, name: &str) -> Result<Vec<Action>, String> {
        let found = self.instances.iter().find(|(_, i)| i.name == name);
        let Some((&worker, i)) = found else {
            return Err(format!("no container {name} in this application"));
        };
        if !i.state.is_active() {
            return Err(format!("{name} has already ended ({:?})", i.state));
        }
        let service = i.service.clone();
        let s = self
            .services
            .get_mut(&service)
            .expect("instances belong to services");
        s.target = s.target.saturating_sub(1);
        let mut actions = Vec::new();
        self.kill_instance(worker, &mut actions);
        self.progress(&mut actions);
        Ok(actions)
    }

    /// `shutdown`: stops everything and ends the application as told.
    pub fn shutdown(&mut self, outcome: Outcome, diagnostics: String) -> Vec<Action> {
        let mut actions = Vec::new();
        self.finish(outcome, diagnostics, &mut actions);
        actions
    }

    /// The master script ended: so does the application.
    pub fn on_master_exited(&mut self, code: Option<i32>) -> Vec<Action> {
        let mut actions = Vec::new();
        let (outcome, why) = match code {
            Some(0) => (Outcome::Succeeded, "the master script exited 0".to_string()),
            Some(c) => (Outcome::Failed, format!("the master script exited {c}")),
            None => (
                Outcome::Failed,
                "the master script was killed by a signal".into(),
            ),
        };
        self.finish(outcome, why, &mut actions);
        actions
    }

    fn active_of(&self, service: &str) -> Vec<WorkerId> {
        self.instances
            .iter()
            .filter(|(_, i)| i.service == service && i.state.is_active())
            .map(|(w, _)| *w)
            .collect()
    }

    fn kill_instance(&mut self, worker: WorkerId, actions: &mut Vec<Action>) {
        if let Some(i) = self.instances.get_mut(&worker) {
            if i.state.is_active() {
                i.state = InstanceState::Killed;
                actions.push(Action::Stop(worker));
                actions.push(Action::Changed(worker));
            }
        }
    }

    fn launch(&mut self, service: &str) -> Action {
        let s = self
            .services
            .get_mut(service)
            .expect("launching a known service");
        let worker = self.next_worker;
        self.next_worker += 1;
        let name = format!("{service}_{}", s.next_number);
        s.next_number += 1;
        self.instances.insert(
            worker,
            Instance {
                service: service.to_string(),
                name,
                state: InstanceState::Requested,
                container: None,
                host: None,
                diagnostics: None,
            },
        );
        Action::Launch {
            worker,
            service: service.to_string(),
        }
    }

    /// Starts services whose dependencies are up, tops services up to their targets,
    /// and ends the application when nothing is left to run.
    fn progress(&mut self, actions: &mut Vec<Action>) {
        if self.finished {
            return;
        }
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in &names {
            let s = &self.services[name];
            if !s.started && s.plan.depends.iter().all(|d| self.is_up(d)) {
                self.services.get_mut(name).expect("known").started = true;
            }
            let s = &self.services[name];
            if s.started {
                let active = self.active_of(name).len() as u32;
                for _ in active..s.target {
                    let launch = self.launch(name);
                    actions.push(launch);
                }
            }
        }
        let anything_active = self.instances.values().any(|i| i.state.is_active());
        if anything_active || self.master_script {
            return;
        }
        let never_started: Vec<&str> = self
            .services
            .values()
            .filter(|s| !s.started && s.target > 0)
            .map(|s| s.plan.name.as_str())
            .collect();
        if never_started.is_empty() {
            self.finish(
                Outcome::Succeeded,
                "every service has finished".into(),
                actions,
            );
        } else {
            self.finish(
                Outcome::Failed,
                format!(
                    "services never started, their dependencies having failed: {}",
                    never_started.join(", ")
                ),
                actions,
            );
        }
    }

    /// `service` has started, none of its instances waits for a container, and one
    /// runs or has succeeded (or it has none to run).
    fn is_up(&self, service: &str) -> bool {
        let Some(s) = self.services.get(service) else {
            return false;
        };
        let mut mine = self.instances.values().filter(|i| i.service == service);
        let waiting = mine.clone().any(|i| i.state == InstanceState::Requested);
        let up = mine.any(|i| matches!(i.state, InstanceState::Running | InstanceState::Succeeded));
        s.started && !waiting && (up || s.plan.instances == 0)
    }

    fn finish(&mut self, outcome: Outcome, diagnostics: String, actions: &mut Vec<Action>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let active: Vec<WorkerId> = self
            .instances
            .iter()
            .filter(|(_, i)| i.state.is_active())
            .map(|(w, _)| *w)
            .collect();
        for worker in active {
            self.kill_instance(worker, actions);
        }
        actions.push(Action::Finish {
            outcome,
            diagnostics,
        });
    }

    pub fn unknown_service(&self, service: &str) -> String {
        let known: Vec<&str> = self.services.keys().map(String::as_str).collect();
        format!(
            "no service {service} in this application (it has: {})",
            known.join(", ")
        )
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

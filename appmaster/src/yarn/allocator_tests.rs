use super::*;

fn remote(class: &str) -> spindle_hadoop::Error {
    spindle_hadoop::Error::Remote {
        addr: "rm:8030".into(),
        method: "allocate".into(),
        exception: spindle_hadoop::RemoteException {
            class: class.into(),
            message: "m".into(),
            error_code: None,
        },
    }
}

#[test]
fn a_forgotten_registration_a_standby_rm_and_refused_asks_are_told_apart_from_other_faults() {
    let of = |class| RmFault::of(&remote(class));
    assert_eq!(
        of("org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException"),
        RmFault::NotRegistered
    );
    assert_eq!(
        of("org.apache.hadoop.ipc.StandbyException"),
        RmFault::Standby
    );
    assert_eq!(
        of("org.apache.hadoop.yarn.exceptions.InvalidApplicationMasterRequestException"),
        RmFault::Other
    );
    for refused in [
        "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException",
        "org.apache.hadoop.yarn.exceptions.InvalidLabelResourceRequestException",
    ] {
        assert_eq!(of(refused), RmFault::Refused, "{refused}");
    }
    let closed = spindle_hadoop::Error::ConnectionClosed {
        addr: "rm:8030".into(),
        reason: "eof".into(),
    };
    assert_eq!(RmFault::of(&closed), RmFault::Other);
}

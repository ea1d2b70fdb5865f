//! What the stores' clients take from the process's environment (S3's `AWS_*`
//! variables; Hadoop's configuration directory, user and token file), handed in once by
//! the binary: the binary alone reads the environment, so a library's behaviour depends
//! only on what its caller gave it.

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The environment the store clients see.
#[derive(Clone)]
pub struct ClientEnv {
    /// The `AWS_*` variables, as named: credentials, region, endpoint.
    aws: Vec<(String, String)>,
    /// `HADOOP_CONF_DIR`: where the site files are.
    pub hadoop_conf_dir: Option<String>,
    /// Who SIMPLE authentication names: `HADOOP_USER_NAME`, else the OS user.
    pub simple_user: String,
    /// `HADOOP_TOKEN_FILE_LOCATION`: a YARN container's delegation tokens.
    pub token_file: Option<PathBuf>,
}

impl ClientEnv {
    /// The client environment in `vars` (the process's, read by the binary), with the
    /// user SIMPLE authentication names.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        simple_user: String,
    ) -> ClientEnv {
        let mut env = ClientEnv {
            aws: Vec::new(),
            hadoop_conf_dir: None,
            simple_user,
            token_file: None,
        };
        for (name, value) in vars {
            match name.as_str() {
                "HADOOP_CONF_DIR" => env.hadoop_conf_dir = Some(value),
                "HADOOP_TOKEN_FILE_LOCATION" => env.token_file = Some(value.into()),
                _ if name.starts_with("AWS_") => env.aws.push((name, value)),
                _ => {}
            }
        }
        env
    }

    /// The `AWS_*` variables given.
    pub fn aws(&self) -> impl Iterator<Item = (&str, &str)> {
        self.aws.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of the `AWS_*` variable `name`, if given.
    pub fn aws_var(&self, name: &str) -> Option<&str> {
        self.aws().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The S3 endpoint of a self-hosted server (`AWS_ENDPOINT_URL`, or the older
    /// `AWS_ENDPOINT`); none for AWS itself.
    pub fn s3_endpoint(&self) -> Option<&str> {
        self.aws_var("AWS_ENDPOINT_URL")
            .or_else(|| self.aws_var("AWS_ENDPOINT"))
    }

    /// Whether a region is given (`AWS_REGION` or `AWS_DEFAULT_REGION`).
    pub fn has_region(&self) -> bool {
        self.aws_var("AWS_REGION").is_some() || self.aws_var("AWS_DEFAULT_REGION").is_some()
    }
}

impl Default for ClientEnv {
    /// No settings: what clients see in a process whose binary installed none.
    fn default() -> ClientEnv {
        ClientEnv::from_vars([], "nobody".to_string())
    }
}

/// Names only: the values include credentials, and this may be logged.
impl fmt::Debug for ClientEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientEnv")
            .field("aws", &self.aws.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("hadoop_conf_dir", &self.hadoop_conf_dir)
            .field("simple_user", &self.simple_user)
            .field("token_file", &self.token_file)
            .finish()
    }
}

static INSTALLED: OnceLock<ClientEnv> = OnceLock::new();

/// Makes `env` what every store client in this process uses. The binary calls it once,
/// before any store opens; a later call changes nothing and returns its `env` back.
pub fn install(env: ClientEnv) -> Result<(), ClientEnv> {
    INSTALLED.set(env)
}

/// What the binary installed, or no settings at all.
pub fn installed() -> &'static ClientEnv {
    INSTALLED.get_or_init(ClientEnv::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn takes_the_aws_and_hadoop_variables_and_nothing_else() {
        let env = ClientEnv::from_vars(
            vars(&[
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_ENDPOINT", "http://old:9000"),
                ("HADOOP_CONF_DIR", "/etc/hadoop/conf"),
                ("HADOOP_TOKEN_FILE_LOCATION", "/c/tokens"),
                ("PATH", "/usr/bin"),
                ("XAWS_REGION", "eu-west-1"),
            ]),
            "alice".into(),
        );
        assert_eq!(
            env.aws().collect::<Vec<_>>(),
            [
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_ENDPOINT", "http://old:9000")
            ]
        );
        assert_eq!(env.hadoop_conf_dir.as_deref(), Some("/etc/hadoop/conf"));
        assert_eq!(env.token_file, Some(PathBuf::from("/c/tokens")));
        assert_eq!(env.simple_user, "alice");
        assert_eq!(env.s3_endpoint(), Some("http://old:9000"));
        assert!(!env.has_region());
    }

    #[test]
    fn the_newer_endpoint_variable_wins_and_either_region_counts() {
        let env = ClientEnv::from_vars(
            vars(&[
                ("AWS_ENDPOINT", "http://old:9000"),
                ("AWS_ENDPOINT_URL", "http://new:9000"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
            ]),
            "alice".into(),
        );
        assert_eq!(env.s3_endpoint(), Some("http://new:9000"));
        assert!(env.has_region());
    }

    #[test]
    fn debug_output_names_the_variables_and_hides_their_values() {
        let env = ClientEnv::from_vars(
            vars(&[("AWS_SECRET_ACCESS_KEY", "very-secret-value")]),
            "alice".into(),
        );
        let shown = format!("{env:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
    }
}

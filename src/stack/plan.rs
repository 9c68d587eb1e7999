//! What `monlab up` will run: every child with its ports, arguments and configuration files,
//! decided before anything starts, so a taken port or a missing tool fails at once.
//!
//! Ports are consecutive from the base flags: service replicas from `--port`, Prometheus
//! replicas from `--prometheus-port`, Alertmanagers from `--alertmanager-port` (their cluster
//! gossip ports 100 above), VictoriaMetrics at `--vm-port`, the Pushgateway at
//! `--pushgateway-port`. A group steps over a port another part already has: on the defaults
//! the second Prometheus of `--ha` takes 9092, since 9091 is the Pushgateway's. Nothing is
//! written here; [`super::run`] writes the files once the whole plan stands.

use super::files::{self, Extras, RunFiles, Targets};
use super::process::Spec;
use super::UpConfig;
use super::{port_free, tools, StackError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Distance from an Alertmanager's web port to its cluster (gossip) port.
const CLUSTER_PORT_OFFSET: u16 = 100;

/// One service replica.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    /// Child name.
    pub name: String,
    /// `127.0.0.1:port`.
    pub addr: String,
}

/// A file to write: its path and text.
pub(crate) type File = (PathBuf, String);

/// Everything `up` starts, in start (and stop) order, and the files they read.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Children: services, Prometheus replicas, VictoriaMetrics, Alertmanagers.
    pub specs: Vec<Spec>,
    /// Configuration files to write before starting.
    pub files: Vec<File>,
    /// The service replicas.
    pub services: Vec<Service>,
    /// The file_sd file listing the ready replicas.
    pub file_sd: PathBuf,
    /// Prometheus URLs.
    pub prometheus: Vec<String>,
    /// Alertmanager URLs.
    pub alertmanagers: Vec<String>,
    /// VictoriaMetrics URL (HA only).
    pub victoria_metrics: Option<String>,
    /// Pushgateway URL.
    pub pushgateway: String,
    /// The data folder.
    pub data: PathBuf,
    /// Sub-folders of the data folder the children write to (made when the plan is carried out).
    pub folders: Vec<String>,
}

/// The ports a plan has given out so far, with who has each and the flag that moves it.
#[derive(Debug)]
struct Ports {
    taken: Vec<(u16, String, &'static str)>,
    /// Whether a port is free on the machine now (a seam for the unit tests).
    free: fn(u16) -> bool,
}

impl Ports {
    /// Gives `n` ports to `what`, consecutive from `base` but skipping ports that another part
    /// of the plan already has (so a second Prometheus steps over the Pushgateway's 9091
    /// instead of colliding with it); each must be free on 127.0.0.1 now.
    fn claim(
        &mut self,
        base: u16,
        n: usize,
        what: &str,
        flag: &'static str,
    ) -> Result<Vec<u16>, StackError> {
        let mut out = Vec::with_capacity(n);
        let mut next = usize::from(base);
        for i in 0..n {
            let name = if n > 1 {
                format!("{what} {}", i + 1)
            } else {
                what.to_string()
            };
            // The first port is the one the flag names: a clash there is the user's to resolve.
            if i > 0 {
                while self.holder(next).is_some() {
                    next += 1;
                }
            } else if let Some((_, other, other_flag)) = self.holder(next) {
                return Err(StackError::PortClash {
                    port: base,
                    what: name,
                    flag,
                    other: other.clone(),
                    other_flag,
                });
            }
            let port = u16::try_from(next).unwrap_or(0);
            if port == 0 || !(self.free)(port) {
                return Err(StackError::PortInUse {
                    port,
                    what: name,
                    flag,
                });
            }
            self.taken.push((port, name, flag));
            out.push(port);
            next += 1;
        }
        Ok(out)
    }

    fn holder(&self, port: usize) -> Option<&(u16, String, &'static str)> {
        self.taken.iter().find(|(p, _, _)| usize::from(*p) == port)
    }
}

/// Decides every child and file of a run: finds the programs, claims every port, derives the
/// monitoring files, then lays out each part's children. Reads, never writes.
pub(crate) fn plan(cfg: &UpConfig) -> Result<Plan, StackError> {
    let programs = Programs::find(cfg.ha)?;
    let ports = claim_ports(cfg, port_free)?;
    let data = cfg
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| cfg.data_dir.clone());
    let me = std::env::current_exe().map_err(|source| StackError::DataDir {
        path: "current executable".into(),
        source,
    })?;
    let run = Layout::new(cfg, ports, data)?;

    let mut files = vec![(run.file_sd.clone(), files::file_sd(&[]))];
    files.extend(run.monitoring.rules.iter().cloned());
    let mut specs = run.services(&me);
    let (prometheus, prometheus_files) = run.prometheus(&programs.prometheus)?;
    specs.extend(prometheus);
    files.extend(prometheus_files);
    specs.extend(run.victoria_metrics(programs.victoria_metrics));
    specs.push(run.pushgateway(programs.pushgateway));
    let (alertmanagers, alertmanager_file) = run.alertmanagers(&programs.alertmanager)?;
    files.push(alertmanager_file);
    specs.extend(alertmanagers);
    Ok(run.into_plan(specs, files))
}

/// The programs a run needs, found before any port is claimed.
struct Programs {
    prometheus: PathBuf,
    alertmanager: PathBuf,
    pushgateway: PathBuf,
    /// Only with `--ha`.
    victoria_metrics: Option<PathBuf>,
}

impl Programs {
    fn find(ha: bool) -> Result<Self, StackError> {
        Ok(Self {
            prometheus: tools::find(tools::PROMETHEUS)?,
            alertmanager: tools::find(tools::ALERTMANAGER)?,
            pushgateway: tools::find(tools::PUSHGATEWAY)?,
            victoria_metrics: if ha {
                Some(tools::find(tools::VICTORIA_METRICS)?)
            } else {
                None
            },
        })
    }
}

/// Every part's ports.
#[derive(Debug)]
struct Given {
    pushgateway: u16,
    victoria_metrics: Option<u16>,
    services: Vec<u16>,
    alertmanagers: Vec<u16>,
    /// The Alertmanagers' gossip ports (HA only).
    cluster: Vec<u16>,
    prometheus: Vec<u16>,
}

/// Claims every port of the run, single ports first, then the groups, which step over them.
fn claim_ports(cfg: &UpConfig, free: fn(u16) -> bool) -> Result<Given, StackError> {
    let (n_prom, n_am) = replica_counts(cfg.ha);
    let mut claimed = Ports {
        taken: Vec::new(),
        free,
    };
    let pushgateway = claimed.claim(
        cfg.pushgateway_port,
        1,
        "the Pushgateway",
        "--pushgateway-port",
    )?[0];
    let victoria_metrics = if cfg.ha {
        Some(claimed.claim(cfg.vm_port, 1, "VictoriaMetrics", "--vm-port")?[0])
    } else {
        None
    };
    let services = claimed.claim(cfg.port, cfg.replicas, "the service", "--port")?;
    let alertmanagers = claimed.claim(
        cfg.alertmanager_port,
        n_am,
        "Alertmanager",
        "--alertmanager-port",
    )?;
    let cluster = if cfg.ha {
        claimed.claim(
            cfg.alertmanager_port.saturating_add(CLUSTER_PORT_OFFSET),
            n_am,
            "Alertmanager cluster",
            "--alertmanager-port",
        )?
    } else {
        Vec::new()
    };
    let prometheus = claimed.claim(
        cfg.prometheus_port,
        n_prom,
        "Prometheus",
        "--prometheus-port",
    )?;
    Ok(Given {
        pushgateway,
        victoria_metrics,
        services,
        alertmanagers,
        cluster,
        prometheus,
    })
}

/// Prometheus replicas and Alertmanagers: a pair and a cluster of three with `--ha`.
fn replica_counts(ha: bool) -> (usize, usize) {
    if ha {
        (2, 3)
    } else {
        (1, 1)
    }
}

/// What the steps of a plan share: the settings, the ports, where files and logs go.
struct Layout<'a> {
    cfg: &'a UpConfig,
    ports: Given,
    data: PathBuf,
    logs: PathBuf,
    file_sd: PathBuf,
    services: Vec<Service>,
    /// `127.0.0.1:port` of each Alertmanager.
    am_addrs: Vec<String>,
    /// Prometheus replica names, `a`, `b`.
    replicas: Vec<String>,
    /// The derived (and, under the time warp, scaled) monitoring files.
    monitoring: RunFiles,
}

impl<'a> Layout<'a> {
    fn new(cfg: &'a UpConfig, ports: Given, data: PathBuf) -> Result<Self, StackError> {
        let services = ports
            .services
            .iter()
            .enumerate()
            .map(|(i, port)| Service {
                name: if cfg.replicas == 1 {
                    "monlab".into()
                } else {
                    format!("monlab-{}", i + 1)
                },
                addr: format!("127.0.0.1:{port}"),
            })
            .collect();
        let am_addrs = ports
            .alertmanagers
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let replicas = (0..ports.prometheus.len())
            .map(|i| ((b'a' + i as u8) as char).to_string())
            .collect();
        // The time warp: Prometheus reads scaled copies of the shipped rules from the data
        // folder, transformed from deploy/ at every start, never edited by hand.
        let monitoring = RunFiles::new(&cfg.deploy, cfg.speed, &data.join("warped"))?;
        Ok(Self {
            cfg,
            logs: data.join("logs"),
            file_sd: data.join("targets.json"),
            data,
            ports,
            services,
            am_addrs,
            replicas,
            monitoring,
        })
    }

    /// The service replicas: each reads the first Prometheus and Alertmanager on its lab page
    /// and passes incidents on to its peers.
    fn services(&self, me: &Path) -> Vec<Spec> {
        let cfg = self.cfg;
        // Every replica's lab page reads the first Prometheus and Alertmanager (in HA the
        // pair's replicas hold the same data), unless the serve flags after `--` name others.
        let lab_flags = [
            (
                "--prometheus-url",
                format!("http://127.0.0.1:{}", self.ports.prometheus[0]),
            ),
            ("--alertmanager-url", format!("http://{}", self.am_addrs[0])),
        ];
        let mut specs = Vec::new();
        for s in &self.services {
            let mut args = vec!["serve".to_string(), "--listen".into(), s.addr.clone()];
            if cfg.speed.is_warped() {
                args.extend(["--speed".to_string(), cfg.speed.to_string()]);
            }
            // The access log goes beside the service's log, where `monlab diagnose` finds the
            // lines of the requests it names.
            let access_log = self.logs.join(format!("{}-access.log", s.name));
            let defaults = lab_flags
                .iter()
                .cloned()
                .chain([("--access-log", access_log.display().to_string())]);
            for (flag, value) in defaults {
                let given = cfg
                    .serve_args
                    .iter()
                    .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
                if !given {
                    args.extend([flag.to_string(), value]);
                }
            }
            // An incident is an event in the system: each replica passes the admin API's
            // changes on to the others, so `monlab incident`, the lab and scenarios reach them
            // all.
            let peers: Vec<String> = self
                .services
                .iter()
                .filter(|o| o.addr != s.addr)
                .map(|o| format!("http://{}", o.addr))
                .collect();
            if !peers.is_empty() {
                args.extend(["--peers".to_string(), peers.join(",")]);
            }
            args.extend(cfg.serve_args.iter().cloned());
            specs.push(Spec {
                name: s.name.clone(),
                program: me.to_path_buf(),
                args,
                envs: vec![("MONLAB_ADMIN_TOKEN".into(), cfg.admin_token.clone())],
                log: self.logs.join(format!("{}.log", s.name)),
                ready: format!("http://{}/readyz", s.addr),
            });
        }
        specs
    }

    /// The Prometheus replicas and each one's configuration file.
    fn prometheus(&self, bin: &Path) -> Result<(Vec<Spec>, Vec<File>), StackError> {
        let mut specs = Vec::new();
        let mut files = Vec::new();
        for (r, port) in self.replicas.iter().zip(&self.ports.prometheus) {
            let name = if self.cfg.ha {
                format!("prometheus-{r}")
            } else {
                "prometheus".into()
            };
            let yml = self.data.join(format!("{name}.yml"));
            files.push((yml.clone(), self.prometheus_yml(r, *port)?));
            let args = [
                format!("--config.file={}", yml.display()),
                format!(
                    "--storage.tsdb.path={}",
                    self.data.join(format!("prometheus-{r}")).display()
                ),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Exemplars (request and user ids) on the classic buckets: docs/diagnosing.md.
                "--enable-feature=native-histograms,exemplar-storage".into(),
                "--web.enable-lifecycle".into(),
            ];
            specs.push(Spec {
                name: name.clone(),
                program: bin.to_path_buf(),
                args: args
                    .into_iter()
                    .chain(self.monitoring.prometheus_flags())
                    .collect(),
                envs: Vec::new(),
                log: self.logs.join(format!("{name}.log")),
                ready: format!("http://127.0.0.1:{port}/-/ready"),
            });
        }
        Ok((specs, files))
    }

    /// Replica `r`'s configuration: with VictoriaMetrics (HA), the pair's copies carry a
    /// `replica` label that is dropped on the way to Alertmanager and to the long-term store.
    fn prometheus_yml(&self, r: &str, port: u16) -> Result<String, StackError> {
        let targets = Targets {
            monlab: Vec::new(),
            monlab_file_sd: Some(self.file_sd.clone()),
            prometheus: format!("127.0.0.1:{port}"),
            alertmanagers: self.am_addrs.clone(),
            pushgateway: format!("127.0.0.1:{}", self.ports.pushgateway),
            webhook: self.services[0].addr.clone(),
        };
        let extras = match self.victoria_metrics_url() {
            Some(vm) => Extras {
                external_labels: vec![("replica".into(), r.into())],
                alert_label_drops: vec!["replica".into()],
                remote_write: Some((format!("{vm}/api/v1/write"), vec!["replica".into()])),
                rules_dir: None,
            },
            None => Extras::default(),
        };
        Ok(self
            .monitoring
            .prometheus(&targets, self.cfg.interval, &extras)?)
    }

    fn victoria_metrics_url(&self) -> Option<String> {
        self.ports
            .victoria_metrics
            .map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// VictoriaMetrics, the pair's deduplicating long-term store (HA only).
    fn victoria_metrics(&self, bin: Option<PathBuf>) -> Option<Spec> {
        let (bin, port) = (bin?, self.ports.victoria_metrics?);
        let speed = self.cfg.speed;
        // Samples of one series closer than the scrape interval are copies from the pair.
        let every = speed.scale(self.cfg.interval.unwrap_or(Duration::from_secs(15)));
        Some(Spec {
            name: "victoria-metrics".into(),
            program: bin,
            args: vec![
                format!("-httpListenAddr=127.0.0.1:{port}"),
                format!(
                    "-storageDataPath={}",
                    self.data.join("victoria-metrics").display()
                ),
                "-retentionPeriod=1".into(),
                format!("-dedup.minScrapeInterval={}", files::prom_duration(every)),
                // Samples become visible to queries this long after they arrive (30 s by
                // default); under the time warp that lag is system time too.
                format!(
                    "-search.latencyOffset={}",
                    files::prom_duration(speed.scale(Duration::from_secs(30)))
                ),
            ],
            envs: Vec::new(),
            log: self.logs.join("victoria-metrics.log"),
            ready: format!("http://127.0.0.1:{port}/health"),
        })
    }

    fn pushgateway(&self, bin: PathBuf) -> Spec {
        let port = self.ports.pushgateway;
        Spec {
            name: "pushgateway".into(),
            program: bin,
            args: vec![
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Debian's default is under /var/lib; keep pushed groups with the rest of the run.
                format!(
                    "--persistence.file={}",
                    self.data.join("pushgateway/metrics.db").display()
                ),
            ],
            envs: Vec::new(),
            log: self.logs.join("pushgateway.log"),
            ready: format!("http://127.0.0.1:{port}/-/ready"),
        }
    }

    /// The Alertmanagers (a gossiping cluster with `--ha`) and their one configuration file.
    fn alertmanagers(&self, bin: &Path) -> Result<(Vec<Spec>, File), StackError> {
        let yml = self.data.join("alertmanager.yml");
        let text = self.monitoring.alertmanager(&self.services[0].addr)?;
        let cluster = &self.ports.cluster;
        let mut specs = Vec::new();
        for (i, port) in self.ports.alertmanagers.iter().enumerate() {
            let name = if self.cfg.ha {
                format!("alertmanager-{}", i + 1)
            } else {
                "alertmanager".into()
            };
            let mut args = vec![
                format!("--config.file={}", yml.display()),
                format!(
                    "--storage.path={}",
                    self.data.join(format!("alertmanager-{}", i + 1)).display()
                ),
                format!("--web.listen-address=127.0.0.1:{port}"),
            ];
            if self.cfg.ha {
                args.push(format!("--cluster.listen-address=127.0.0.1:{}", cluster[i]));
                for (j, peer) in cluster.iter().enumerate() {
                    if j != i {
                        args.push(format!("--cluster.peer=127.0.0.1:{peer}"));
                    }
                }
            } else {
                // A single Alertmanager: no gossip port to collide with.
                args.push("--cluster.listen-address=".into());
            }
            specs.push(Spec {
                name: name.clone(),
                program: bin.to_path_buf(),
                args,
                envs: Vec::new(),
                log: self.logs.join(format!("{name}.log")),
                ready: format!("http://127.0.0.1:{port}/-/ready"),
            });
        }
        Ok((specs, (yml, text)))
    }

    /// Sub-folders of the data folder the children write to.
    fn folders(&self) -> Vec<String> {
        let mut subs = vec!["logs".to_string(), "pushgateway".to_string()];
        subs.extend(self.replicas.iter().map(|r| format!("prometheus-{r}")));
        subs.extend((1..=self.ports.alertmanagers.len()).map(|i| format!("alertmanager-{i}")));
        if self.cfg.speed.is_warped() {
            subs.push("warped/rules".into());
        }
        if self.cfg.ha {
            subs.push("victoria-metrics".into());
        }
        subs
    }

    fn into_plan(self, specs: Vec<Spec>, files: Vec<File>) -> Plan {
        let folders = self.folders();
        Plan {
            specs,
            files,
            prometheus: self
                .ports
                .prometheus
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect(),
            alertmanagers: self
                .am_addrs
                .iter()
                .map(|a| format!("http://{a}"))
                .collect(),
            victoria_metrics: self.victoria_metrics_url(),
            pushgateway: format!("http://127.0.0.1:{}", self.ports.pushgateway),
            services: self.services,
            file_sd: self.file_sd,
            data: self.data,
            folders,
        }
    }
}

impl Plan {
    /// Prints where everything is.
    pub(crate) fn print(&self, cfg: &UpConfig) {
        let first = format!("http://{}", self.services[0].addr);
        println!("monlab is up; Ctrl-C stops everything.");
        if cfg.speed.is_warped() {
            println!(
                "  time warp     {k}× — 1 wall second is {k} system seconds",
                k = cfg.speed
            );
        }
        println!("  lab           {first}/lab");
        println!("  service       {first}/random");
        for s in &self.services[1..] {
            println!("  replica       http://{}/random", s.addr);
        }
        println!("  metrics       {first}/metrics");
        println!("  alerts seen   {first}/alerts/notifications");
        for p in &self.prometheus {
            println!("  prometheus    {p}");
        }
        for a in &self.alertmanagers {
            println!("  alertmanager  {a}");
        }
        if let Some(vm) = &self.victoria_metrics {
            println!("  long-term     {vm}/vmui/");
        }
        println!("  pushgateway   {}", self.pushgateway);
        println!("  admin token   {}", cfg.admin_token);
        println!(
            "  break it      MONLAB_ADMIN_TOKEN={} monlab incident start auth-down --for 5m --url {first}",
            cfg.admin_token
        );
        println!("  data, logs    {}", self.data.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Ports {
        Ports {
            taken: Vec::new(),
            free: |_| true,
        }
    }

    #[test]
    fn a_group_steps_over_ports_other_parts_have() {
        // The defaults of `up --replicas 3 --ha`: the second Prometheus used to take 9091.
        let mut p = ports();
        let pg = p.claim(9091, 1, "the Pushgateway", "--pushgateway-port");
        assert_eq!(pg.unwrap(), vec![9091]);
        let am = p.claim(9093, 3, "Alertmanager", "--alertmanager-port");
        assert_eq!(am.unwrap(), vec![9093, 9094, 9095]);
        let prom = p.claim(9090, 2, "Prometheus", "--prometheus-port");
        assert_eq!(prom.unwrap(), vec![9090, 9092]);
    }

    #[test]
    fn two_flags_naming_one_port_are_refused_with_both_flags() {
        let mut p = ports();
        p.claim(9091, 1, "the Pushgateway", "--pushgateway-port")
            .unwrap();
        let err = p
            .claim(9091, 1, "Prometheus", "--prometheus-port")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("9091")
                && err.contains("--pushgateway-port")
                && err.contains("--prometheus-port"),
            "{err}"
        );
    }

    #[test]
    fn a_port_in_use_names_the_flag_that_moves_it() {
        let mut p = Ports {
            taken: Vec::new(),
            free: |port| port != 9094,
        };
        let err = p
            .claim(9093, 3, "Alertmanager", "--alertmanager-port")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("9094")
                && err.contains("Alertmanager 2")
                && err.contains("--alertmanager-port"),
            "{err}"
        );
    }
}

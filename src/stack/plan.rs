//! What `monlab up` will run: every child with its ports, arguments and configuration files,
//! decided before anything starts, so a taken port or a missing tool fails at once.
//!
//! Ports are consecutive from the base flags: service replicas from `--port`, Prometheus
//! replicas from `--prometheus-port`, Alertmanagers from `--alertmanager-port` (their cluster
//! gossip ports 100 above), VictoriaMetrics at `--vm-port`, the Pushgateway at
//! `--pushgateway-port`. A group steps over a port another part already has: on the defaults
//! the second Prometheus of `--ha` takes 9092, since 9091 is the Pushgateway's. Nothing is
//! written here; [`super::run`] writes the files once the whole plan stands.

use super::config::{self, Extras, Targets};
use super::process::Spec;
use super::UpConfig;
use super::{port_free, tools, StackError};
use std::path::PathBuf;
use std::time::Duration;

/// Distance from an Alertmanager's web port to its cluster (gossip) port.
const CLUSTER_PORT_OFFSET: u16 = 100;

/// One service replica.
#[derive(Debug, Clone)]
pub struct Service {
    /// Child name.
    pub name: String,
    /// `127.0.0.1:port`.
    pub addr: String,
}

/// Everything `up` starts, in start (and stop) order, and the files they read.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Children: services, Prometheus replicas, VictoriaMetrics, Alertmanagers.
    pub specs: Vec<Spec>,
    /// Configuration files to write before starting.
    pub files: Vec<(PathBuf, String)>,
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

/// Decides every child and file of a run.
pub fn plan(cfg: &UpConfig) -> Result<Plan, StackError> {
    let prometheus_bin = tools::find(tools::PROMETHEUS)?;
    let alertmanager_bin = tools::find(tools::ALERTMANAGER)?;
    let pushgateway_bin = tools::find(tools::PUSHGATEWAY)?;
    let vm_bin = if cfg.ha {
        Some(tools::find(tools::VICTORIA_METRICS)?)
    } else {
        None
    };
    let (n_prom, n_am) = if cfg.ha { (2, 3) } else { (1, 1) };
    // Single ports first, then the groups, which step over them.
    let mut claimed = Ports {
        taken: Vec::new(),
        free: port_free,
    };
    let pg_port = claimed.claim(
        cfg.pushgateway_port,
        1,
        "the Pushgateway",
        "--pushgateway-port",
    )?[0];
    let vm_port = if cfg.ha {
        Some(claimed.claim(cfg.vm_port, 1, "VictoriaMetrics", "--vm-port")?[0])
    } else {
        None
    };
    let service_ports = claimed.claim(cfg.port, cfg.replicas, "the service", "--port")?;
    let am_ports = claimed.claim(
        cfg.alertmanager_port,
        n_am,
        "Alertmanager",
        "--alertmanager-port",
    )?;
    let cluster_ports = if cfg.ha {
        claimed.claim(
            cfg.alertmanager_port.saturating_add(CLUSTER_PORT_OFFSET),
            n_am,
            "Alertmanager cluster",
            "--alertmanager-port",
        )?
    } else {
        Vec::new()
    };
    let prom_ports = claimed.claim(
        cfg.prometheus_port,
        n_prom,
        "Prometheus",
        "--prometheus-port",
    )?;

    let replica_names: Vec<String> = (0..n_prom)
        .map(|i| ((b'a' + i as u8) as char).to_string())
        .collect();
    let mut subs = vec!["logs".to_string(), "pushgateway".to_string()];
    subs.extend(replica_names.iter().map(|r| format!("prometheus-{r}")));
    subs.extend((1..=n_am).map(|i| format!("alertmanager-{i}")));
    if cfg.speed != crate::warp::Speed::ONE {
        subs.push("warped/rules".into());
    }
    if cfg.ha {
        subs.push("victoria-metrics".into());
    }
    let data = cfg
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| cfg.data_dir.clone());
    let logs = data.join("logs");
    let me = std::env::current_exe().map_err(|source| StackError::DataDir {
        path: "current executable".into(),
        source,
    })?;

    let services: Vec<Service> = service_ports
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
    let am_addrs: Vec<String> = am_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let vm_url = vm_port.map(|p| format!("http://127.0.0.1:{p}"));
    let file_sd = data.join("targets.json");
    let mut files = vec![(file_sd.clone(), config::file_sd(&[]))];
    // The time warp: Prometheus reads scaled copies of the shipped rules from the data
    // folder, transformed from deploy/ at every start, never edited by hand.
    let warped = cfg.speed != crate::warp::Speed::ONE;
    let warped_rules = if warped {
        let base = data.join("warped");
        for (rel, text) in config::warped_rules(&cfg.deploy, cfg.speed)? {
            files.push((base.join(rel), text));
        }
        Some(base)
    } else {
        None
    };
    let mut specs = Vec::new();

    // Every replica's lab page reads the first Prometheus and Alertmanager (in HA the pair's
    // replicas hold the same data), unless the serve flags after `--` name others.
    let lab_flags = [
        (
            "--prometheus-url",
            format!("http://127.0.0.1:{}", prom_ports[0]),
        ),
        ("--alertmanager-url", format!("http://{}", am_addrs[0])),
    ];
    for s in &services {
        let mut args = vec!["serve".to_string(), "--listen".into(), s.addr.clone()];
        if warped {
            args.extend(["--speed".to_string(), cfg.speed.to_string()]);
        }
        for (flag, url) in &lab_flags {
            let given = cfg
                .serve_args
                .iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
            if !given {
                args.extend([flag.to_string(), url.clone()]);
            }
        }
        // An incident is an event in the system: each replica passes the admin API's changes
        // on to the others, so `monlab incident`, the lab and scenarios reach them all.
        let peers: Vec<String> = services
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
            program: me.clone(),
            args,
            envs: vec![("MONLAB_ADMIN_TOKEN".into(), cfg.admin_token.clone())],
            log: logs.join(format!("{}.log", s.name)),
            ready: format!("http://{}/readyz", s.addr),
        });
    }

    for (r, port) in replica_names.iter().zip(&prom_ports) {
        let name = if cfg.ha {
            format!("prometheus-{r}")
        } else {
            "prometheus".into()
        };
        let targets = Targets {
            monlab: Vec::new(),
            monlab_file_sd: Some(file_sd.clone()),
            prometheus: format!("127.0.0.1:{port}"),
            alertmanagers: am_addrs.clone(),
            pushgateway: format!("127.0.0.1:{pg_port}"),
            webhook: services[0].addr.clone(),
        };
        let mut extras = match &vm_url {
            Some(vm) => Extras {
                external_labels: vec![("replica".into(), r.clone())],
                alert_label_drops: vec!["replica".into()],
                remote_write: Some((format!("{vm}/api/v1/write"), vec!["replica".into()])),
                rules_dir: None,
            },
            None => Extras::default(),
        };
        extras.rules_dir = warped_rules.clone();
        let yml = data.join(format!("{name}.yml"));
        let mut prometheus_yml = config::prometheus(&cfg.deploy, &targets, cfg.interval, &extras)?;
        if warped {
            prometheus_yml = crate::warp::scale_prometheus_config(&prometheus_yml, cfg.speed)?;
        }
        files.push((yml.clone(), prometheus_yml));
        specs.push(Spec {
            name: name.clone(),
            program: prometheus_bin.clone(),
            args: vec![
                format!("--config.file={}", yml.display()),
                format!(
                    "--storage.tsdb.path={}",
                    data.join(format!("prometheus-{r}")).display()
                ),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--enable-feature=native-histograms".into(),
                "--web.enable-lifecycle".into(),
            ]
            .into_iter()
            .chain(if warped {
                crate::warp::prometheus_flags(cfg.speed)
            } else {
                Vec::new()
            })
            .collect(),
            envs: Vec::new(),
            log: logs.join(format!("{name}.log")),
            ready: format!("http://127.0.0.1:{port}/-/ready"),
        });
    }

    if let (Some(bin), Some(port)) = (vm_bin, vm_port) {
        // Samples of one series closer than the scrape interval are copies from the pair.
        let every = cfg
            .speed
            .scale(cfg.interval.unwrap_or(Duration::from_secs(15)));
        specs.push(Spec {
            name: "victoria-metrics".into(),
            program: bin,
            args: vec![
                format!("-httpListenAddr=127.0.0.1:{port}"),
                format!(
                    "-storageDataPath={}",
                    data.join("victoria-metrics").display()
                ),
                "-retentionPeriod=1".into(),
                format!("-dedup.minScrapeInterval={}", config::prom_duration(every)),
                // Samples become visible to queries this long after they arrive (30 s by
                // default); under the time warp that lag is system time too.
                format!(
                    "-search.latencyOffset={}",
                    config::prom_duration(cfg.speed.scale(Duration::from_secs(30)))
                ),
            ],
            envs: Vec::new(),
            log: logs.join("victoria-metrics.log"),
            ready: format!("http://127.0.0.1:{port}/health"),
        });
    }

    specs.push(Spec {
        name: "pushgateway".into(),
        program: pushgateway_bin,
        args: vec![
            format!("--web.listen-address=127.0.0.1:{pg_port}"),
            // Debian's default is under /var/lib; keep pushed groups with the rest of the run.
            format!(
                "--persistence.file={}",
                data.join("pushgateway/metrics.db").display()
            ),
        ],
        envs: Vec::new(),
        log: logs.join("pushgateway.log"),
        ready: format!("http://127.0.0.1:{pg_port}/-/ready"),
    });

    let am_yml = data.join("alertmanager.yml");
    let mut am_text = config::alertmanager(&cfg.deploy, &services[0].addr)?;
    if warped {
        am_text = crate::warp::scale_alertmanager(&am_text, cfg.speed)?;
    }
    files.push((am_yml.clone(), am_text));
    for (i, port) in am_ports.iter().enumerate() {
        let name = if cfg.ha {
            format!("alertmanager-{}", i + 1)
        } else {
            "alertmanager".into()
        };
        let mut args = vec![
            format!("--config.file={}", am_yml.display()),
            format!(
                "--storage.path={}",
                data.join(format!("alertmanager-{}", i + 1)).display()
            ),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        if cfg.ha {
            args.push(format!(
                "--cluster.listen-address=127.0.0.1:{}",
                cluster_ports[i]
            ));
            for (j, peer) in cluster_ports.iter().enumerate() {
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
            program: alertmanager_bin.clone(),
            args,
            envs: Vec::new(),
            log: logs.join(format!("{name}.log")),
            ready: format!("http://127.0.0.1:{port}/-/ready"),
        });
    }

    Ok(Plan {
        specs,
        files,
        services,
        file_sd,
        prometheus: prom_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect(),
        alertmanagers: am_addrs.iter().map(|a| format!("http://{a}")).collect(),
        victoria_metrics: vm_url,
        pushgateway: format!("http://127.0.0.1:{pg_port}"),
        data,
        folders: subs,
    })
}

impl Plan {
    /// Prints where everything is.
    pub fn print(&self, cfg: &UpConfig) {
        let first = format!("http://{}", self.services[0].addr);
        println!("monlab is up; Ctrl-C stops everything.");
        if cfg.speed != crate::warp::Speed::ONE {
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

// /_ping, /version, /info: what a docker client asks first, to negotiate its version and to show
// `docker version` and `docker info`.
import { cpus, hostname, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { detectCgroupLayout } from '../cgroups/detect.js';
import { API_VERSION, apiHeaders, MIN_API_VERSION, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

function ping(r: ApiRequest): void {
  const res = r.res!;
  const headers = { ...apiHeaders(), 'Builder-Version': '1', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2' };
  res.writeHead(200, headers);
  res.end(r.method === 'HEAD' ? undefined : 'OK');
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux'; // no os-release (a minimal host): the kernel's name says enough
  }
}

function cgroupVersion(): string {
  return detectCgroupLayout().mode === 'unified' ? '2' : '1';
}

function version(r: ApiRequest): void {
  const v = r.service.version;
  const arch = GOARCH[process.arch] ?? process.arch;
  const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: arch, KernelVersion: release(), GitCommit: '', GoVersion: `node${process.versions.node}`, BuildTime: '', Experimental: 'false' };
  sendJson(r, 200, {
    Platform: { Name: 'berth' },
    Components: [{ Name: 'Engine', Version: v, Details: details }],
    Version: v,
    ...details,
    Experimental: false,
  });
}

async function info(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const containers = await engine.list();
  const count = (s: string) => containers.filter((c) => c.state.status === s).length;
  const arch = GOARCH[process.arch] ?? process.arch;
  const cgroup = cgroupVersion();
  sendJson(r, 200, {
    ID: '',
    Containers: containers.length,
    ContainersRunning: count('running'),
    ContainersPaused: count('paused'),
    ContainersStopped: count('exited') + count('created'),
    Images: engine.images.listImages().length,
    Driver: 'overlay',
    DriverStatus: [['Backing Filesystem', 'overlay'], ['Supports d_type', 'true']],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: [], Log: ['k8s-file'] },
    MemoryLimit: true,
    SwapLimit: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    BridgeNfIptables: false,
    BridgeNfIp6tables: false,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'k8s-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroup,
    NEventsListener: 0,
    KernelVersion: release(),
    OperatingSystem: osName(),
    OSVersion: '',
    OSType: 'linux',
    Architecture: arch,
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {}, Mirrors: [] },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    GenericResources: [],
    DockerRootDir: engine.root,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: r.service.version,
    Runtimes: { berth: { path: 'berth-runtime' } },
    DefaultRuntime: 'berth',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: 'default',
    InitBinary: 'tini',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    SecurityOptions: ['name=seccomp,profile=default', ...(cgroup === '2' ? ['name=cgroupns'] : [])],
    Warnings: [],
  });
}

export const systemRoutes: Route[] = [
  { method: 'GET', path: '/_ping', handler: ping },
  { method: 'HEAD', path: '/_ping', handler: ping },
  { method: 'GET', path: '/version', handler: version },
  { method: 'GET', path: '/info', handler: info },
];

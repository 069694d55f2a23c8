#!/usr/bin/env python3
# Drives a command through a real pseudo-terminal, as a person at a terminal would: the command
# runs on the pty's slave side (so it sees a tty on 0, 1 and 2); this script plays the keyboard
# and the screen. Steps come as JSON on stdin, a list of:
#   {"send": "text"}              keys typed (JSON escapes, e.g. "\u0010\u0011" for ctrl-p ctrl-q)
#   {"expect": "regex", "timeout": s}  wait until the screen so far matches (fails the session if not)
#   {"resize": [rows, cols]}      a new window size, then SIGWINCH to the command, as a terminal does
#   {"sleep": s}
# The first window size is 24x80. Prints one JSON line: {"screen": all output, "exit": exit code,
# "failed": the step that did not match, or null}.
import json, os, pty, re, select, signal, struct, sys, termios, fcntl, time

argv = sys.argv[1:]
steps = json.load(sys.stdin)
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

def set_size(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))

set_size(24, 80)
screen = b''
ended = False

def pump(seconds):
    global screen, ended
    deadline = time.time() + seconds
    while not ended and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], min(0.05, max(0, deadline - time.time())))
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b''
            if not data:
                ended = True
                return
            # A terminal answers a cursor position query (busybox's line editor asks, and waits).
            for _ in range(data.count(b'\x1b[6n')):
                os.write(fd, b'\x1b[1;1R')
            screen += data

failed = None
for step in steps:
    if 'send' in step:
        os.write(fd, step['send'].encode())
    elif 'expect' in step:
        pattern = re.compile(step['expect'].encode())
        deadline = time.time() + step.get('timeout', 10)
        while not pattern.search(screen) and time.time() < deadline and not ended:
            pump(0.1)
        if not pattern.search(screen):
            failed = step
            break
    elif 'resize' in step:
        set_size(*step['resize'])
        os.kill(pid, signal.SIGWINCH)
    elif 'sleep' in step:
        pump(step['sleep'])

if failed:
    os.kill(pid, signal.SIGKILL)
# Whatever comes until the command ends (bounded), then its exit status.
status = None
deadline = time.time() + 15
while status is None and time.time() < deadline:
    pump(0.2)
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
if status is None:
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
print(json.dumps({'screen': screen.decode('utf-8', 'replace'), 'exit': os.waitstatus_to_exitcode(status), 'failed': failed}))

#!/usr/bin/python3
"""bench/tmux-keytime.py SOCKET TARGET: times keys sent to a tmux pane
until the pane shows what they should, through one tmux control-mode
client (`tmux -C`), so that no poll forks a tmux client or a grep.

Reads steps from stdin, one a line: a label, a tab, the arguments of
one `send-keys` (shell words; empty for no key), a tab, and a Python
regular expression that the pane's text (`capture-pane -p`, its lines
joined by newlines, searched with re.MULTILINE) must match; or
"sleep SECONDS". For each step it writes the send-keys command, then
captures the pane at once and again each time tmux reports output from
the pane (%output), and at least every 5 ms without one, until the text
matches (30 s at most: exit 1).
Prints "LABEL MS" for each step: from just before the send-keys
command is written to the capture that matched, on a monotonic clock.
The time includes tmux's work (the key's delivery, the pane's parser,
one capture) and the application's; the poll adds one capture's round
trip at most, or 5 ms when tmux's %output did not come (how many steps
that was goes to stderr at the end).
"""

import os
import re
import select
import shlex
import subprocess
import sys
import time

DEADLINE_S = 30
# a capture at least this often even without %output, so that an
# output tmux did not report (or one reported as the capture was
# taken) costs at most this much; such matches are counted
POLL_S = 0.005
polled = 0


class Control:
    """A tmux control-mode client attached to TARGET's session."""

    def __init__(self, sock, target):
        self.p = subprocess.Popen(
            ["tmux", "-S", sock, "-C", "attach-session", "-t", target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.fd = self.p.stdout.fileno()
        self.buf = b""
        self.output = False     # %output seen since the last capture
        # the attach's own answer comes first: skip to a marker's
        self.p.stdin.write(b"display-message -p keytime-ready\n")
        self.p.stdin.flush()
        while self.block(None) != [b"keytime-ready"]:
            pass

    def line(self, timeout):
        """The next line of the client, or None after TIMEOUT s."""
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.fd], [], [], timeout)
            if not r:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise SystemExit("tmux control client ended")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def notice(self, line):
        if line.startswith(b"%output "):
            self.output = True

    def command(self, cmd):
        """Runs CMD; returns the lines of its answer."""
        self.p.stdin.write(cmd.encode() + b"\n")
        self.p.stdin.flush()
        return self.block(cmd)

    def block(self, cmd):
        """The lines of the next answer (%begin to %end)."""
        out, inside = [], False
        while True:
            line = self.line(DEADLINE_S)
            if line is None:
                raise SystemExit("tmux did not answer %s" % cmd)
            if line.startswith(b"%begin "):
                inside = True
            elif inside and (line.startswith(b"%end ") or
                             line.startswith(b"%error ")):
                if line.startswith(b"%error "):
                    raise SystemExit("tmux: %s: %s" % (
                        cmd, b"\n".join(out).decode(errors="replace")))
                return out
            elif inside:
                out.append(line)
            else:
                self.notice(line)

    def wait_output(self, until):
        """Waits for %output from the pane, at most POLL_S and until
        UNTIL. Returns 1 when it came, 0 when the wait ran out."""
        until = min(until, time.monotonic() + POLL_S)
        while not self.output:
            left = until - time.monotonic()
            if left <= 0:
                return 0
            line = self.line(left)
            if line is not None:
                self.notice(line)
        return 1


def step(c, target, label, keys, pattern):
    rx = re.compile(pattern.encode(), re.MULTILINE)
    t0 = time.monotonic()
    if keys:
        c.command("send-keys -t %s %s" % (shlex.quote(target), keys))
    global polled
    until = t0 + DEADLINE_S
    woken = 1
    while True:
        c.output = False
        screen = b"\n".join(c.command("capture-pane -p -t " +
                                       shlex.quote(target)))
        if rx.search(screen):
            polled += not woken
            break
        if time.monotonic() >= until:
            sys.stderr.write("tmux-keytime: %s: /%s/ not on screen:\n%s\n" %
                             (label, pattern, screen.decode(errors="replace")))
            sys.exit(1)
        woken = c.wait_output(until)
    print("%s %.1f" % (label, (time.monotonic() - t0) * 1000), flush=True)


def main():
    sock, target = sys.argv[1], sys.argv[2]
    c = Control(sock, target)
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line.startswith("sleep "):
            time.sleep(float(line[6:]))
            continue
        label, keys, pattern = line.split("\t", 2)
        step(c, target, label, keys, pattern)
    c.p.stdin.close()
    c.p.wait()
    if polled:
        sys.stderr.write("tmux-keytime: %d step(s) seen on the %g ms poll, "
                         "not on %%output\n" % (polled, POLL_S * 1000))

if __name__ == "__main__":
    main()

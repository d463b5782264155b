#!/usr/bin/env python3
"""Independent verifier for the Bulwark audit trail format, version 1.

Written from docs/audit-format.md ALONE (no Bulwark source was read), to show
that the document is enough for a third party.  Section numbers in comments
("s2", "s7.3", ...) refer to that document.

Revised to the document's clarifications (still from the document alone): line
length (98,304 bytes not counting the LF), time ranges (year 1970-9999, a day
that exists in its month, second 00-59: 60 refused), padding bound
not checked, checkpoint actor not checked, key changes (several trusted keys,
each checkpoint checked with the key it names),
s7 step 0 (no segment: MISSING at 1), s7 step 1 (TRUNCATED header test on the
bytes left without trailing NULs, < 128 bytes; seq = expected or 1 in the first
segment; file name mismatch MALFORMED at first_seq), s7 step 4 (the first
last_hash= in the decoded reason; MISSING at 1 + highest orev of
audit.retention records). The month-length and first-last_hash= points were
settled in the document after the verifier's second author reported them, and
applied here by the project (two small edits, from the document).

    python3 audit_verify.py [--key PUBKEY.pem] DIR

Exit 0 "OK: ..." (intact), 1 "DAMAGED: KIND at seq N: ..." (first damage),
2 on usage errors or unreadable input (message on stderr).
"""

import argparse
import calendar
import hashlib
import os
import re
import subprocess
import sys
import tempfile

MAX_U64 = 2**64 - 1
MAX_LINE = 98_304                      # s3 "Size": not counting the line's LF
MAX_HEADER = 127                       # s2: 36 + 20 digits + 6 + 64 + LF; s7.1 says "128 bytes
                                       # (one more than the longest header)"
ZERO_HASH = b"0" * 64
SEG_NAME = re.compile(r"seg-([0-9]{20})\.log")          # s1
HEADER = re.compile(rb"bulwark-audit-segment v=1 first_seq=([1-9][0-9]{0,19})"
                    rb" prev=([0-9a-f]{64})\n")          # s2 ABNF

# s3 ABNF.  `plain` excludes SP, so a value can never swallow the next field
# and the regex is unambiguous.
PLAIN = set(range(0x21, 0x25)) | set(range(0x26, 0x3D)) | set(range(0x3E, 0x7F))
VALUE = rb"((?:[\x21-\x24\x26-\x3c\x3e-\x7e]|%[0-9A-F]{2})*)"
SEQ = rb"([1-9][0-9]{0,19})"
NUM = rb"(0|[1-9][0-9]{0,19})"
HASH = rb"([0-9a-f]{64})"
VALUE_FIELDS = ["actor", "role", "tenant", "source", "auth", "action",
                "okind", "otenant", "oname"]
RECORD = re.compile(
    rb"v=1 seq=" + SEQ +
    rb" time=([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z)" +
    b"".join(b" " + f.encode() + b"=" + VALUE for f in VALUE_FIELDS) +
    rb" orev=" + NUM +
    rb" outcome=(success|denied|failure|error)" +
    rb" reason=" + VALUE + rb" controls=" + VALUE +
    rb" prev=" + HASH +
    rb"(?: key=" + HASH + rb" sig=((?:[0-9a-f]{2}){1,256}))?" +   # even length
    rb" hash=" + HASH + rb"\n")
GROUPS = (["seq", "time"] + VALUE_FIELDS +
          ["orev", "outcome", "reason", "controls", "prev", "key", "sig", "hash"])
STATED_HASH = re.compile(rb" hash=([0-9a-f]{64})\n\Z")
LOOSE_SEQ = re.compile(rb"v=1 seq=([0-9]+) ")


class Damage(Exception):
    def __init__(self, kind, seq, why):
        super().__init__(why)
        self.kind, self.seq, self.why = kind, seq, why


class Unreadable(Exception):
    pass


def decode_value(raw):
    """Percent-decode; None unless the encoding is the canonical one (s3)."""
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i] == 0x25:                      # '%' + 2 upper hex (regex-checked)
            b = int(raw[i + 1:i + 3], 16)
            if b in PLAIN:                      # "%41" encodes a plain byte: not canonical
                return None
            out.append(b)
            i += 3
        else:
            out.append(raw[i])
            i += 1
    # s3 "Size" (cut values to 2048 bytes + "...[+N]") is a rule for writers:
    # unlike line length, the document does not tell readers to refuse longer
    # values, so it is not checked here.
    return bytes(out)


def parse_record(line):
    """(fields, body) if `line` matches the record grammar, else (None, reason)."""
    if len(line) - line.endswith(b"\n") > MAX_LINE:       # s3: the LF is not counted
        return None, f"line longer than {MAX_LINE} bytes (not counting its LF)"
    m = RECORD.fullmatch(line)
    if not m:
        return None, "does not match the record grammar"
    rec = dict(zip(GROUPS, m.groups()))
    for f in VALUE_FIELDS + ["reason", "controls"]:
        v = decode_value(rec[f])
        if v is None:
            return None, f"non-canonical encoding of {f}"
        rec[f] = v
    rec["seq"], rec["orev"] = int(rec["seq"]), int(rec["orev"])
    if rec["seq"] > MAX_U64 or rec["orev"] > MAX_U64:
        return None, "number above 2^64-1"
    if not valid_time(rec["time"]):
        return None, "time out of range (s3 \"Time\")"
    if not rec["action"]:
        return None, "empty action"
    # key/sig "if and only if action is audit.checkpoint"
    if (rec["action"] == b"audit.checkpoint") != (rec["key"] is not None):
        return None, "key/sig present iff action=audit.checkpoint violated"
    body = line[:m.start(len(GROUPS)) - len(b" hash=")]
    return rec, body


def valid_time(t):
    """s3 "Time": the ranges beyond the grammar.  The day must exist in its
    month (Gregorian leap years); second 00-59, a leap second (60) is refused
    (the writer never writes one)."""
    y, mo, d, h, mi, s = (int(t[a:a + n]) for a, n in
                          ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2)))
    if not (1970 <= y <= 9999 and 1 <= mo <= 12):
        return False
    return (1 <= d <= calendar.monthrange(y, mo)[1]
            and h <= 23 and mi <= 59 and s <= 59)


def good_record(line):
    """A line that parses and whose hash is right, or None."""
    if line is None:
        return None
    rec, body = parse_record(line)
    if rec is None or hashlib.sha256(body).hexdigest().encode() != rec["hash"]:
        return None
    return rec


PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----\r?\n.*?-----END PUBLIC KEY-----\r?\n?",
                       re.S)


class Signer:
    """The trusted checkpoint keys: their s4 key ids and signature checks via
    openssl.  s1/s4: a key file may hold several PEM keys (after a key change),
    and each checkpoint must verify with the trusted key its key id names."""

    def __init__(self, pem_paths, tmp):
        self.tmp, self.keys = tmp, {}
        for pem_path in pem_paths:
            try:
                with open(pem_path, "rb") as f:
                    blocks = PEM_BLOCK.findall(f.read())
            except OSError:
                raise Unreadable(f"cannot read key {pem_path}")
            if not blocks:
                raise Unreadable(f"{pem_path}: not a PEM public key")
            for block in blocks:
                one = os.path.join(tmp, f"key-{len(self.keys)}.pem")
                with open(one, "wb") as f:
                    f.write(block)
                der = subprocess.run(["openssl", "pkey", "-pubin", "-in", one,
                                      "-outform", "DER"], capture_output=True)
                if der.returncode != 0 or not der.stdout:
                    raise Unreadable(f"{pem_path}: not a PEM public key")
                text = subprocess.run(["openssl", "pkey", "-pubin", "-in", one, "-noout",
                                       "-text"], capture_output=True, text=True).stdout
                if "secp384r1" not in text and "P-384" not in text:
                    raise Unreadable(f"{pem_path}: not an ECDSA P-384 key (s4)")
                # s4: key id = SHA-256 of the DER SubjectPublicKeyInfo
                self.keys[hashlib.sha256(der.stdout).hexdigest().encode()] = one

        # One openssl process per checkpoint costs ~15 ms and a busy trail has a
        # checkpoint a second, so checks run a few at a time in the background;
        # settle() reports the earliest failure, keeping "first damage wins".
        self.pending, self.limit = [], 2 * (os.cpu_count() or 1)

    def submit(self, seq, where, signed_part, sig_der, key_id):
        msg = os.path.join(self.tmp, f"{seq}.msg")
        sig = os.path.join(self.tmp, f"{seq}.sig")
        with open(msg, "wb") as f:
            f.write(signed_part)
        with open(sig, "wb") as f:
            f.write(sig_der)
        # s4: ECDSA over SHA-384 of the signed part, so openssl hashes the message itself
        proc = subprocess.Popen(["openssl", "dgst", "-sha384", "-verify", self.keys[key_id],
                                 "-signature", sig, msg],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pending.append((seq, where, proc, (msg, sig)))
        if len(self.pending) >= self.limit:
            self.settle(keep=self.limit // 2)

    def settle(self, keep=0):
        """Wait for all but the last `keep` checks; raise for the earliest that failed."""
        done, self.pending = self.pending[:len(self.pending) - keep], self.pending[len(self.pending) - keep:]
        bad = None
        for seq, where, proc, paths in done:
            ok = proc.wait() == 0
            for p in paths:
                os.unlink(p)
            if not ok and bad is None:
                bad = Damage("BAD_SIGNATURE", seq, f"{where}: checkpoint signature does not verify")
        if bad:
            for _, _, proc, _ in self.pending:   # later checks no longer matter
                proc.wait()
            self.pending = []
            raise bad


def split_lines(data):
    """Lines with their LF; a final piece without LF is kept as is (a torn write)."""
    lines, start = [], 0
    while start < len(data):
        nl = data.find(b"\n", start)
        end = len(data) if nl < 0 else nl + 1
        lines.append(data[start:end])
        start = end
    return lines


def verify(trail, signer):
    try:
        stats = walk(trail, signer)
    except Damage:
        signer.settle()        # a bad signature found earlier in the walk comes first
        raise
    signer.settle()
    return stats


def walk(trail, signer):
    names = sorted(n for n in os.listdir(trail) if SEG_NAME.fullmatch(n))  # byte order = chain order
    if not names:
        # Every open starts a segment and retention never removes the one being
        # written (s6), so a trail without segments has lost all its records.
        raise Damage("MISSING", 1, "the trail holds no seg-*.log file")
    expected = last = None
    first_header = None              # (first_seq, prev) of the first segment, for s7.4
    prev_padded = False
    retention = {}                   # orev -> list of decoded reasons (s5, s7.4)
    stats = {"records": 0, "checkpoints": 0, "last_ck": None, "tail": []}

    for name in names:
        name_seq = int(SEG_NAME.fullmatch(name).group(1))
        at = expected if expected is not None else 1   # s7.1: seq to blame before a header is read
        # s7.1: padding is allowed in the last segment only
        if prev_padded:
            raise Damage("MALFORMED", at, f"segment before {name} ends in NUL padding "
                         "but is not the last segment")
        try:
            with open(os.path.join(trail, name), "rb") as f:
                data = f.read()
        except OSError as e:
            raise Unreadable(f"{name}: {e}")
        # s2/s7.1: strip the trailing NUL run; it was padding only if what is
        # left is empty or ends in LF, otherwise the NULs belong to a torn record.
        stripped = data.rstrip(b"\0")
        prev_padded = False
        if not stripped or stripped.endswith(b"\n"):
            prev_padded = len(stripped) != len(data)
            data = stripped

        # s7.1: the header is judged on what is left without the trailing NULs
        nl = stripped.find(b"\n")
        m = HEADER.fullmatch(stripped[:nl + 1]) if nl >= 0 else None
        if not m or int(m.group(1)) > MAX_U64:
            kind = ("TRUNCATED" if not stripped or (len(stripped) <= MAX_HEADER and nl < 0)
                    else "MALFORMED")
            raise Damage(kind, at, f"{name}: bad segment header")
        first_seq, hprev = int(m.group(1)), m.group(2)
        if first_seq != name_seq:     # s7.1: MALFORMED at first_seq (the header's)
            raise Damage("MALFORMED", first_seq, f"{name}: header says first_seq={first_seq}")

        # s7.2: link the segment into the chain
        if expected is None:
            expected, last, first_header = first_seq, hprev, (first_seq, hprev)
            if first_seq == 1 and hprev != ZERO_HASH:
                raise Damage("MODIFIED", 1, f"{name}: first segment's prev is not all zeros")
        elif first_seq > expected:
            raise Damage("MISSING", expected, f"{name} starts at {first_seq}, "
                         f"previous segment ended at {expected - 1}")
        elif first_seq < expected:
            raise Damage("INSERTED", first_seq, f"{name} starts at {first_seq}, "
                         f"already had records up to {expected - 1}")
        elif hprev != last:
            raise Damage("MODIFIED", expected, f"{name}: header prev does not match "
                         f"the hash of record {expected - 1}")

        lines = split_lines(data[nl + 1:])
        for i, line in enumerate(lines):
            where = f"{name} line {i + 2}"
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            # s7.3, checks in the document's order
            if line.startswith(b"\0"):
                raise Damage("MALFORMED", expected, f"{where}: NUL bytes that are not padding")
            if not line.endswith(b"\n"):
                raise Damage("TRUNCATED", expected, f"{where}: record cut short "
                             f"({len(line)} bytes without LF)")
            rec, body = parse_record(line)      # body is the reason when rec is None
            bad_hash = rec is not None and hashlib.sha256(body).hexdigest().encode() != rec["hash"]
            if rec is None or bad_hash:
                what = "SHA-256 of the body differs from its hash" if bad_hash else body
                # Use the next line to tell a forged extra line from an altered one.
                n = good_record(nxt)
                stated = STATED_HASH.search(line)
                if n and n["seq"] == expected and n["prev"] == last:
                    raise Damage("INSERTED", expected, f"{where}: {what}; the next line "
                                 f"is record {expected}, chained to the previous one")
                if n and stated and n["seq"] == expected + 1 and n["prev"] == stated.group(1):
                    raise Damage("MODIFIED", expected, f"{where}: {what}; the next record "
                                 "chains to this line's stated hash")
                raise Damage("MODIFIED" if rec is not None else "MALFORMED", expected,
                             f"{where}: {what}")
            seq = rec["seq"]
            if seq == expected and rec["prev"] != last:
                raise Damage("INSERTED", expected, f"{where}: record {seq} is not chained "
                             f"to record {expected - 1} (a forged record)")
            if seq > expected:
                later = any((mm := LOOSE_SEQ.match(l)) and int(mm.group(1)) == expected
                            for l in lines[i + 1:])
                raise Damage("REORDERED" if later else "MISSING", expected,
                             f"{where}: found seq {seq}, expected {expected}")
            if seq < expected:
                raise Damage("INSERTED", seq, f"{where}: seq {seq} again, expected {expected}")
            if rec["action"] == b"audit.checkpoint":
                if rec["key"] not in signer.keys:
                    raise Damage("BAD_SIGNATURE", seq, f"{where}: checkpoint key id "
                                 f"{rec['key'].decode()} is not a trusted key's")
                signed = body[:body.rindex(b" sig=")]   # s4: up to the end of the key value
                signer.submit(seq, where, signed, bytes.fromhex(rec["sig"].decode()),
                              rec["key"])
                stats["checkpoints"] += 1
                stats["last_ck"] = seq
            if rec["action"] == b"audit.retention":
                retention.setdefault(rec["orev"], []).append(rec["reason"])
            expected, last = seq + 1, rec["hash"]
            stats["records"] += 1
            stats["tail"] = (stats["tail"] + [rec["action"]])[-2:]

    # s7.4: a trail that does not start at 1 must say why (a retention record)
    # In the decoded reason, the first "last_hash=" (anywhere) must be
    # followed by the header's prev; okind and actor are not checked.
    first_seq, hprev = first_header

    def anchors(reason):
        at = reason.find(b"last_hash=")
        return at >= 0 and reason[at + 10:at + 74] == hprev

    if first_seq > 1 and not any(anchors(r)
                                 for r in retention.get(first_seq - 1, ())):
        # s7.4: blame 1 + the highest orev of the audit.retention records read
        # (1 if there is none).
        gone = 1 + max(retention, default=0)
        raise Damage("MISSING", gone, f"trail starts at {first_seq} but no "
                     f"audit.retention record has orev={first_seq - 1} and "
                     "last_hash= equal to the first header's prev")
    stats.update(segments=len(names), first=first_seq, last_seq=expected - 1)
    return stats


def main():
    ap = argparse.ArgumentParser(description="Verify a Bulwark audit trail (format v1).")
    ap.add_argument("--key", action="append",
                    help="trusted checkpoint public key(s) (PEM; repeat, or one file "
                         "holding several keys, after a key change)")
    ap.add_argument("dir", help="trail directory")
    args = ap.parse_args()              # exits 2 on usage errors
    try:
        if not os.path.isdir(args.dir):
            raise Unreadable(f"{args.dir}: not a directory")
        with tempfile.TemporaryDirectory() as tmp:
            own = args.key is None
            signer = Signer([os.path.join(args.dir, "checkpoint-key.pem")] if own else args.key,
                            tmp)
            s = verify(args.dir, signer)
    except Unreadable as e:
        print(f"audit_verify: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"audit_verify: {e}", file=sys.stderr)
        return 2
    except Damage as d:
        print(f"DAMAGED: {d.kind} at seq {d.seq}: {d.why}")
        return 1
    unsigned = s["last_seq"] - (s["last_ck"] if s["last_ck"] else s["first"] - 1)
    rng = f"seq {s['first']}..{s['last_seq']}" if s["records"] else "no records"
    # s5: a clean close is audit.stop followed by a checkpoint; anything else is
    # a running writer or a crash, which is not damage but worth saying.
    clean = s["tail"] == [b"audit.stop", b"audit.checkpoint"]
    print(f"OK: {s['records']} records ({rng}), {s['segments']} segments, "
          f"{s['checkpoints']} checkpoints; {unsigned} records after the last checkpoint "
          "are chained but not signed; "
          + ("" if clean else "trail does not end with audit.stop (writer running or "
             "stopped uncleanly); ")
          + ("signatures checked against the trail's own checkpoint-key.pem: this only "
             "proves consistency, not authenticity (pass --key)" if own
             else "signatures verified with the trusted key"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# make check-update's access to the installed LUKS2 root from the host
# without device-mapper (the test hosts have none): the data segment
# (aes-xts-plain64, 512-byte sectors, the IV the sector number from the
# segment's start) decrypted into a plain image that debugfs edits,
# and only the 1 MiB chunks that changed encrypted back.
#
#   luks-xts.py decrypt IMAGE OFFSET LENGTH KEYFILE PLAIN SUMS
#   luks-xts.py writeback IMAGE OFFSET LENGTH KEYFILE PLAIN SUMS
#
# IMAGE the disk image, OFFSET and LENGTH the data segment's bytes in it,
# KEYFILE the 64-byte volume key (cryptsetup luksDump --dump-volume-key),
# SUMS the SHA-256 of each chunk of PLAIN as decrypt wrote it.
import hashlib
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 512
CHUNK = 1 << 20


def crypt_chunk(alg, data, first_sector, encrypt):
    out = bytearray()
    for i in range(len(data) // SECTOR):
        mode = modes.XTS((first_sector + i).to_bytes(16, "little"))
        c = Cipher(alg, mode)
        c = c.encryptor() if encrypt else c.decryptor()
        out += c.update(data[i * SECTOR:(i + 1) * SECTOR]) + c.finalize()
    return bytes(out)


def main():
    cmd, image, offset, length, keyfile, plain, sums = sys.argv[1:8]
    offset, length = int(offset), int(length)
    if offset % SECTOR or length % CHUNK:
        sys.exit("luks-xts: offset not sector-aligned or length not whole MiB")
    with open(keyfile, "rb") as f:
        key = f.read()
    if len(key) != 64:
        sys.exit("luks-xts: the volume key is not 64 bytes (aes-xts-plain64, 512 bits)")
    alg = algorithms.AES(key)
    n = length // CHUNK
    if cmd == "decrypt":
        with open(image, "rb") as src, open(plain, "wb") as dst, open(sums, "w") as s:
            src.seek(offset)
            for k in range(n):
                p = crypt_chunk(alg, src.read(CHUNK), k * CHUNK // SECTOR, False)
                dst.write(p)
                s.write(hashlib.sha256(p).hexdigest() + "\n")
    elif cmd == "writeback":
        with open(sums) as s:
            before = s.read().split()
        if len(before) != n:
            sys.exit("luks-xts: the sums do not cover the segment")
        changed = 0
        with open(plain, "rb") as src, open(image, "r+b") as dst:
            for k in range(n):
                p = src.read(CHUNK)
                if hashlib.sha256(p).hexdigest() == before[k]:
                    continue
                dst.seek(offset + k * CHUNK)
                dst.write(crypt_chunk(alg, p, k * CHUNK // SECTOR, True))
                changed += 1
        print("luks-xts: %d of %d chunks (1 MiB) written back" % (changed, n))
    else:
        sys.exit("luks-xts: unknown command " + cmd)


if __name__ == "__main__":
    main()

# Included by _core.pyx. The artifact's sender table (sender number -> literal id) as an
# open-addressing hash table the core probes itself.
#
# A dict lookup per message was about 4% of a `match` at 10,000 scenes: between two
# messages the table leaves the cache, and a found sender also reads the dict's key and
# value objects. Here a sender's slot holds its text, so a lookup reads one
# slot; `Matcher.match` prefetches that slot before the scan and probes it after, when it
# has arrived (the sender's hit joins the others before candidate selection, which does
# not depend on the order of hits). Most senders are in no rule: a one-bit-per-bucket
# filter, small enough to stay cached between messages, turns ~97% of those away before
# any slot is read (10,000 scenes: `match` 1.957 -> 1.915 µs a message, in one process).

cdef enum:
    SENDER_INLINE = 20   # code units of a sender kept in its slot (Latin-1 text)
    SENDER_FILTER_BITS = 32   # filter bits per sender in the table: ~3% of other senders pass

ctypedef struct SenderSlot:
    Py_hash_t hash               # Python's hash of the sender (this process's)
    int32_t lit                  # literal id; -1: an empty slot
    int32_t n                    # length, <= SENDER_INLINE
    uint8_t text[SENDER_INLINE]

ctypedef struct SenderKey:       # one message's sender, for a probe after its scan
    const SenderSlot *slots      # NULL: nothing to probe
    size_t mask
    size_t home
    Py_hash_t hash
    const uint8_t *text
    Py_ssize_t n
    int32_t also                 # a DLT sender's header's literal id, or -1 (see dlt_shaped)


cdef inline bint ascii_alpha(uint8_t c) noexcept nogil:
    return (c | 0x20) >= 0x61 and (c | 0x20) <= 0x7a


cdef inline bint dlt_shaped(const uint8_t *t, Py_ssize_t n) noexcept nogil:
    """`XX-HEADER` or `XX-HEADER-S`: an Indian DLT sender, whose 6-character header is
    what a rule lists (`sender "HDFCBK"` holds for `VM-HDFCBK`, `JD-HDFCBK-S`; see
    `runtime.senders.dlt_header`, which the Python paths use)."""
    cdef Py_ssize_t i
    if n != 9 and n != 11 or t[2] != 0x2d or not ascii_alpha(t[0]) or not ascii_alpha(t[1]):
        return False
    for i in range(3, 9):
        if not (ascii_alpha(t[i]) or 0x30 <= t[i] <= 0x39):
            return False
    return n == 9 or t[9] == 0x2d and ascii_alpha(t[10])


cdef inline int32_t sender_probe(const SenderKey *k) noexcept nogil:
    """The sender's literal id, or -1 (linear probing; the table always has empty slots)."""
    cdef size_t i = k.home
    cdef const SenderSlot *s
    while True:
        s = k.slots + i
        if s.lit < 0:
            return -1
        if s.hash == k.hash and s.n == k.n and memcmp(s.text, k.text, <size_t>k.n) == 0:
            return s.lit
        i = (i + 1) & k.mask


cdef class SenderIndex:
    """Sender -> literal id, as ``dict.get(sender, -1)`` on the artifact's sender table.

    Senders that are short Latin-1 ``str`` (every sender number) live in the C table;
    the others, and lookups of anything but an exact ``str``, use the dicts, so a ``str``
    subclass or an unhashable sender behaves as it did with the dict.
    """

    cdef SenderSlot *slots
    cdef size_t mask
    cdef uint64_t *filter            # one bit per hash bucket: a sender of the C table sets
    cdef int filter_shift            # its bucket's bit (see `_bucket`)
    cdef dict table                  # everything, for the lookups the C table cannot take
    cdef dict rest                   # the senders the C table does not hold

    def __cinit__(self, dict table not None, Py_ssize_t nlits):
        cdef size_t size = 8, bits = 512
        self.table, self.rest = dict(table), {}
        while size < 2 * <size_t>len(table) + 2:
            size *= 2
        while bits < SENDER_FILTER_BITS * <size_t>len(table):
            bits *= 2
        self.filter_shift = 64
        while (<size_t>1 << (64 - self.filter_shift)) < bits:
            self.filter_shift -= 1
        self.slots = <SenderSlot *>calloc(size, sizeof(SenderSlot))
        self.filter = <uint64_t *>calloc(bits // 64, sizeof(uint64_t))
        if self.slots == NULL or self.filter == NULL:
            raise MemoryError()
        self.mask = size - 1
        for i in range(<Py_ssize_t>size):
            self.slots[i].lit = -1
        for sender, lit in self.table.items():
            if type(lit) is not int or not 0 <= lit < nlits:
                raise ValueError(f"sender {sender!r}: literal {lit!r} out of range")
            if not self._insert(sender, lit):
                self.rest[sender] = lit

    def __dealloc__(self):
        free(self.slots)
        free(self.filter)

    cdef inline size_t _bucket(self, Py_hash_t h) noexcept nogil:
        """The filter bit of a hash: its top bits after a multiplicative mix, so that they
        do not follow the slot index (the low bits)."""
        return <size_t>((<uint64_t>h * <uint64_t>0x9E3779B97F4A7C15ULL) >> self.filter_shift)

    cdef bint _insert(self, sender, int32_t lit) except -1:
        """Put a sender in the C table; False if it does not fit a slot."""
        cdef SenderKey k
        cdef SenderSlot *s
        cdef size_t i
        if not self._key(sender, &k):
            return False
        i = k.home                       # a dict's keys are distinct: no update case
        while self.slots[i].lit >= 0:
            i = (i + 1) & self.mask
        s = self.slots + i
        s.hash, s.lit, s.n = k.hash, lit, <int32_t>k.n
        memcpy(s.text, k.text, <size_t>k.n)
        i = self._bucket(k.hash)
        self.filter[i >> 6] |= <uint64_t>1 << (i & 63)
        return True

    cdef bint _key(self, sender, SenderKey *k) except -1:
        """Fill `k` for a sender the C table can answer for (an exact, short Latin-1 str);
        False for any other."""
        k.slots = NULL
        if type(sender) is not str:
            return False
        scenec_unicode_ready(sender)
        if PyUnicode_KIND(sender) != 1 or PyUnicode_GET_LENGTH(sender) > SENDER_INLINE:
            return False
        k.hash = hash(sender)
        k.slots, k.mask = self.slots, self.mask
        k.home = <size_t>k.hash & self.mask
        k.text = <const uint8_t *>PyUnicode_DATA(sender)
        k.n = PyUnicode_GET_LENGTH(sender)
        return True

    cdef int32_t prepare(self, sender, SenderKey *k) except -2:
        """Either the sender's literal id (or -1) now, with `k.slots` NULL, or a key whose
        home slot is being prefetched, for `sender_probe` later. `k.also` is the literal
        id of a DLT sender's header (-1 for any other sender): a rule may list either.
        Most senders are no rule's: the filter (a few KB that stay cached, where the slots
        do not) turns ~97% of those away without reading a slot, whose miss, however
        early it is prefetched, the scan's own traffic often evicts again."""
        cdef size_t i
        k.also = -1
        if sender is None:
            k.slots = NULL
            return -1
        if self._key(sender, k):
            if dlt_shaped(k.text, k.n):  # rare outside India: both looked up now
                k.slots = NULL
                k.also = self.table.get(sender[3:9], -1)
                return self.table.get(sender, -1)
            i = self._bucket(k.hash)
            if not self.filter[i >> 6] >> (i & 63) & 1:
                k.slots = NULL           # surely not in the table: no slot to read
                return -1
            prefetch(<const void *>(k.slots + k.home))
            return -1
        # A str beyond the C table's keys; the callers pass nothing but exact strs (see
        # sender_str), and anything else is no rule's sender.
        return self.rest.get(sender, -1) if type(sender) is str else -1

    cdef int32_t get(self, sender) except -2:
        """The sender's literal id, or -1."""
        cdef SenderKey k
        cdef int32_t lit = self.prepare(sender, &k)
        return sender_probe(&k) if k.slots != NULL else lit

    def lookup(self, sender):
        """`get` from Python (tests), for a sender as callers pass it (see sender_str):
        the literal id, or -1."""
        sender = sender_str(sender)   # kept alive while the key points into it
        return self.get(sender)


cdef inline object sender_str(sender):
    """`senders.sender_text` in the core: the exact str a sender holds (a str subclass's
    text, a new object the caller must keep alive while a key points into it), or None
    for anything that is not a str."""
    if type(sender) is str or sender is None:
        return sender
    return str.__str__(sender) if isinstance(sender, str) else None

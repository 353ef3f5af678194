// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// Public timestamps for Ward's embedded ledgers (SQLite, `ward ledger
/// serve`): each anchor is a ledger's signed checkpoint (a C2SP signed note)
/// posted in a block, so the block's time bounds when the ledger had that
/// log (docs/evm.md, "Anchoring the embedded ledger").
///
/// Anyone may post. The contract cannot check the note's Ed25519 signature
/// (the EVM has no Ed25519), so it does not try: verifiers (`ward ledger
/// verify --anchors`) open each note with the ledger's verifier key off chain,
/// check that its size and root are the event's, and that the root is the
/// ledger's own at that size; an anchor whose note does not open is a forgery
/// and fails verification. The contract only keeps anchors of one ledger id in
/// increasing size, so a later post cannot rewind the last one.
contract WardAnchor {
    /// The longest note accepted: a checkpoint with a few signatures is far less.
    uint256 public constant MAX_NOTE = 4096;

    error EmptyLog(); // a size of 0: the empty log has nothing to anchor
    error NotLater(uint64 size, uint64 last); // not larger than the last anchored size
    error NoteTooLong(uint256 length); // a note over MAX_NOTE bytes

    struct Last {
        uint64 size;
        uint64 time;
        bytes32 root;
    }

    /// The last anchor of each ledger id.
    mapping(bytes32 ledgerId => Last) public last;

    event Anchored(bytes32 indexed ledgerId, uint64 size, bytes32 root, uint64 time, bytes note);

    /// Anchors the checkpoint of `size` records with `root` of ledger
    /// `ledgerId`, carried by `note` (the checkpoint's signed note).
    function anchor(bytes32 ledgerId, uint64 size, bytes32 root, bytes calldata note) external {
        if (size == 0) revert EmptyLog();
        Last storage l = last[ledgerId];
        if (size <= l.size) revert NotLater(size, l.size);
        if (note.length > MAX_NOTE) revert NoteTooLong(note.length);
        uint64 time = uint64(block.timestamp);
        l.size = size;
        l.time = time;
        l.root = root;
        emit Anchored(ledgerId, size, root, time, note);
    }
}

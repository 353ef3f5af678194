// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// The storage layout WardLedger and WardLedgerViews share (the views run
/// in WardLedger's storage by delegatecall), and the helpers both read it
/// with. Declares no state of its own beyond these variables: WardLedger and
/// WardLedgerViews add none, so the layouts are the same.
abstract contract WardLedgerState {
    // --- limits (src/ledger/tx.h) ---
    uint256 internal constant MAX_AMOUNT = 2 ** 63 - 1;
    uint256 internal constant MAX_BPS = 10000;
    uint256 internal constant MAX_GRANT_USES = 100000;
    uint256 internal constant MAX_LIST = 256; // grants per use, service accounts, usage entries
    uint256 internal constant MAX_SHORT = 256;
    uint256 internal constant MAX_LONG = 4096;
    uint256 internal constant MAX_ENVELOPE = 65536;
    uint256 internal constant MAX_ENDPOINT = 300;
    uint256 internal constant BINDING_SIZE = 64;

    // --- enums, with the C++ enums' values ---
    uint8 internal constant KIND_TEE = 3; // OfferKind: engine 0, dataset 1, model 2, tee 3
    uint8 internal constant FIXED = 0; // PriceModel
    uint8 internal constant PER_HOUR = 1;
    uint8 internal constant REVENUE_SHARE = 2;
    uint8 internal constant NEW = 0; // OrderStatus
    uint8 internal constant PROCESSING = 1;
    uint8 internal constant DONE = 2;
    uint8 internal constant ERROR = 3;
    uint8 internal constant CANCELED = 4;
    uint8 internal constant ACCOUNTS = 1; // ServiceAccess: public 0, accounts 1, subscribers 2
    uint8 internal constant SUBSCRIBERS = 2;

    // --- arguments both use ---
    struct Price {
        uint8 model; // fixed 0, per_hour 1, revenue_share 2
        uint64 amount; // fixed and per_hour
        uint32 bps; // revenue_share, at most 10000
    }

    // --- storage ---
    struct Totals {
        uint64 records; // accepted calls so far: the next record index
        uint64 supply;
        uint64 escrow;
    }

    struct Account {
        address owner; // the address that sends for it; 0: no account
        uint64 balance;
        uint32 created; // record index (account-creating calls refuse past 2^32-1)
    }

    struct Offer {
        address owner; // 0: no offer
        uint8 kind;
        uint8 model;
        bool enabled;
        uint64 amount; // the bps of a revenue_share offer
    }

    struct Cvm {
        address cvmAddress; // the CVM account's address; 0: no CVM
        uint64 offer;
        uint64 registeredAt;
        uint64 heartbeatAt;
        uint64 notAfter; // claimed by cvms.update; 0 = unknown (as an unparsed certificate)
        bytes32 recipientHash; // keccak256 of the age recipient
        bytes32 certificateSha256;
    }

    uint8 internal constant F_SERVICE = 1;
    uint8 internal constant F_PAYMENTS = 2; // payments are open (made when money first moves)
    uint8 internal constant F_STARTED = 4; // services.start recorded a TLS key

    struct Order {
        address creator; // 0: no order
        uint64 deposit;
        uint8 status;
        uint8 flags;
        uint16 offerCount;
        address cvm; // the CVM account's address
        uint64 teeOffer; // the CVM's tee offer: payee 0
        bytes32 engineHash; // keccak256 of the engine
        uint64 createdAt;
        uint64 startedAt;
        uint64 endedAt;
        uint64 refund;
        uint64 teePaid;
        uint64 reportIndex;
        bytes32 reportSha256; // 0: no report
    }

    struct Service {
        uint8 access;
        uint64 servingSince;
        uint64 cancelRequested;
        uint64 exhaustedAt;
        uint64 revenue;
        uint64 perRequest;
        uint64 per1kTokens;
        uint64 startIndex;
        bytes32 tlsKeySha256;
        bytes32 startReportSha256;
        bytes32[] inputs;
    }

    struct Subscription {
        uint64 deposit; // 0: no subscription (a deposit is at least 1)
        uint64 charged;
        uint64 requests;
        uint64 tokens;
        uint64 byteCount;
        uint40 createdAt;
        uint40 updatedAt;
        uint64 refund;
        bool closed;
    }

    struct Grant {
        uint64 count; // orders recorded under a use limit
        bool revoked;
        uint64 revokedAt;
    }

    /// A payee of an order while its payments are computed.
    struct Payee {
        uint64 offer;
        address owner;
        uint8 model;
        uint64 price; // amount, or bps for revenue_share
        uint64 paid;
    }

    Totals internal totals_;
    mapping(bytes32 => Account) internal accounts_;
    mapping(address => bytes32) public accountOf;
    mapping(uint64 => Offer) internal offers_;
    mapping(bytes32 => Cvm) internal cvms_;
    bytes32[] internal cvmIds_;
    mapping(uint64 => Order) internal orders_;
    // Listed offers of an order, two per slot: (offer id << 64 | paid).
    mapping(uint64 => mapping(uint256 => uint256)) internal listed_;
    mapping(uint64 => Service) internal services_;
    mapping(uint64 => mapping(bytes32 => Subscription)) internal subscriptions_;
    mapping(uint64 => bytes32[]) internal subscribers_;
    mapping(bytes32 => Grant) internal grants_; // keyed by keccak256(grant id, owner)
    mapping(bytes32 => mapping(uint64 => bool)) internal grantOrders_;

    function _cvmIdOf(bytes32 key) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(key));
    }

    /// The payees of an order: its CVM's tee offer, then each listed offer,
    /// with what each was paid.
    function _loadPayees(uint64 id, Order storage o) internal view returns (Payee[] memory payees) {
        uint256 n = o.offerCount;
        payees = new Payee[](n + 1);
        payees[0] = _payee(o.teeOffer, o.teePaid);
        for (uint256 i = 0; i < n; ++i) {
            uint256 pair = listed_[id][i / 2];
            uint256 entry = i % 2 == 0 ? pair >> 128 : pair & type(uint128).max;
            payees[i + 1] = _payee(uint64(entry >> 64), uint64(entry));
        }
    }

    function _payee(uint64 offerId, uint64 paid) internal view returns (Payee memory) {
        Offer storage offer = offers_[offerId];
        return Payee(offerId, offer.owner, offer.model, offer.amount, paid);
    }
}

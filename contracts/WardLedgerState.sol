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
    uint256 internal constant DEFAULT_CVM_TIMEOUT = 90; // a tee offer's failover timeout when it names none
    uint256 internal constant MAX_CVM_TIMEOUT = 86400;
    uint256 internal constant MAX_CORES = 4096;
    uint256 internal constant MAX_MEMORY_MIB = 2 ** 32;
    uint256 internal constant MAX_GPUS = 64;
    uint256 internal constant MAX_WORKERS = 7; // a split service's worker CVMs
    uint256 internal constant MAX_WORKER_ENDPOINT = 255;

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

    /// A CVM's resources as its provider declares them, or what an order on a
    /// tee offer needs; `present` false: none (then all zero).
    struct Resources {
        bool present;
        uint64 cores;
        uint64 memoryMib;
        uint64 gpus;
    }

    // --- errors: one per reason code; `what` codes are listed in contracts/README.md ---
    error Malformed(uint8 what); // malformed
    error UnknownAddress(address who); // unknown_account: this address owns no account
    error UnknownAccount(bytes32 id); // unknown_account
    error AlreadyExists(uint8 what, bytes32 key); // already_exists
    error NotFound(uint8 what, bytes32 key); // not_found
    error NotOwner(uint8 what, uint64 id); // not_owner
    error NotAllowed(uint8 what, uint64 value); // not_allowed
    error BadState(uint8 what, uint64 a, uint64 b); // bad_state
    error InsufficientFunds(uint64 balance, uint64 amount); // insufficient_funds
    error Overflow(uint8 what); // overflow
    error DevOnly(); // dev_only
    error ReportMismatch(uint8 what, bytes32 claimed, bytes32 expected); // report_mismatch
    error Revoked(bytes32 grant, bytes32 owner); // revoked
    error UsedUp(bytes32 grant, uint64 uses); // used_up
    error UsageRegressed(bytes32 account, uint8 counter, uint64 reported, uint64 recorded); // usage_regressed
    error CertificateMismatch(uint8 what, bytes32 claimed, bytes32 expected); // certificate_mismatch

    // Malformed(what)
    uint8 internal constant M_ID = 1;
    uint8 internal constant M_RECIPIENT = 2;
    uint8 internal constant M_NAME = 3;
    uint8 internal constant M_BINDING = 4;
    uint8 internal constant M_AMOUNT = 5;
    uint8 internal constant M_KIND = 6;
    uint8 internal constant M_PRICE = 7;
    uint8 internal constant M_RESOURCE = 8;
    uint8 internal constant M_CERTIFICATE = 9;
    uint8 internal constant M_ENGINE = 10;
    uint8 internal constant M_INPUTS = 11;
    uint8 internal constant M_OUTPUTS = 12;
    uint8 internal constant M_OFFERS = 13;
    uint8 internal constant M_SERVE = 14;
    uint8 internal constant M_ACCOUNTS = 15;
    uint8 internal constant M_REASON = 16;
    uint8 internal constant M_REPORT = 17;
    uint8 internal constant M_ENDPOINT = 18;
    uint8 internal constant M_GRANTS = 19;
    uint8 internal constant M_USES = 20;
    uint8 internal constant M_DEPOSIT = 21;
    uint8 internal constant M_USAGE = 22;
    uint8 internal constant M_TIMEOUT = 23;
    uint8 internal constant M_RESOURCES = 24;
    uint8 internal constant M_CVM_OR_OFFER = 25;
    uint8 internal constant M_WORKERS = 26;
    uint8 internal constant M_WORKER_ENDPOINT = 27;
    // AlreadyExists / NotFound / NotOwner (what)
    uint8 internal constant E_ACCOUNT = 1;
    uint8 internal constant E_ADDRESS = 2;
    uint8 internal constant E_OFFER = 3;
    uint8 internal constant E_CVM = 4;
    uint8 internal constant E_ORDER = 5;
    uint8 internal constant E_REPORT = 6;
    uint8 internal constant E_SERVICE_KEY = 7;
    uint8 internal constant E_STOP_REQUEST = 8;
    uint8 internal constant E_GRANT = 9;
    uint8 internal constant E_SUBSCRIPTION = 10;
    // NotAllowed(what)
    uint8 internal constant A_NOT_ORDERS_CVM = 1;
    uint8 internal constant A_NOT_A_CVM = 2;
    uint8 internal constant A_NOT_TEE_OFFER = 3;
    uint8 internal constant A_TEE_OFFER_LISTED = 4;
    uint8 internal constant A_REVENUE_SHARES = 5;
    uint8 internal constant A_NOT_FOR_SUBSCRIBERS = 6;
    uint8 internal constant A_NOT_LISTED_CVM = 7;
    uint8 internal constant A_NOT_ON_OFFER = 8;
    uint8 internal constant A_OTHER_OFFER = 9;
    uint8 internal constant A_DOES_NOT_FIT = 10;
    uint8 internal constant A_NOT_WORKER = 11;
    // BadState(what)
    uint8 internal constant S_OFFER_ENABLED = 1;
    uint8 internal constant S_OFFER_DISABLED = 2;
    uint8 internal constant S_TEE_OFFER_DISABLED = 3;
    uint8 internal constant S_ORDER_STATUS = 4;
    uint8 internal constant S_NOT_SERVICE = 5;
    uint8 internal constant S_NOT_STARTED = 6;
    uint8 internal constant S_STOP_REQUESTED = 7;
    uint8 internal constant S_NOT_SUBSCRIBERS = 8;
    uint8 internal constant S_CERTIFICATE_NOT_LATER = 9;
    uint8 internal constant S_TAKEN = 10;
    uint8 internal constant S_NOTHING_TO_REASSIGN = 11;
    uint8 internal constant S_HEARTBEAT_RECENT = 12;
    // Overflow(what)
    uint8 internal constant O_BALANCE = 1;
    uint8 internal constant O_SUPPLY = 2;
    uint8 internal constant O_ESCROW = 3;
    uint8 internal constant O_DEPOSIT = 4;
    uint8 internal constant O_REVENUE = 5;
    uint8 internal constant O_RECORDS = 6;
    uint8 internal constant O_BILLED = 7;
    // ReportMismatch(what)
    uint8 internal constant R_ORDER = 1;
    uint8 internal constant R_LEDGER = 2;
    uint8 internal constant R_CVM = 3;
    uint8 internal constant R_ENGINE = 4;
    uint8 internal constant R_NOT_A_SERVICE = 5;
    uint8 internal constant R_NO_SERVICE = 6;
    uint8 internal constant R_TLS_KEY = 7;
    // CertificateMismatch(what)
    uint8 internal constant C_KEY = 1;
    uint8 internal constant C_RECIPIENT = 2;
    // UsageRegressed(counter)
    uint8 internal constant U_REQUESTS = 1;
    uint8 internal constant U_TOKENS = 2;
    uint8 internal constant U_BYTES = 3;

    // --- events: one per accepted call, with its record index ---
    event Transfer(address indexed from, address indexed to, uint256 value); // ERC-20; escrow is this contract
    event AccountRegistered(bytes32 indexed id, address indexed owner, uint64 index, string recipient, string name, bytes binding);
    event Funded(bytes32 indexed to, uint64 amount, uint64 index);
    event Transferred(bytes32 indexed from, bytes32 indexed to, uint64 amount, uint64 index);
    event OfferCreated(uint64 indexed offer, bytes32 indexed owner, uint8 kind, Price price, string name, string resource);
    event OfferEnabled(uint64 indexed offer, bool enabled, uint64 index);
    event CvmRegistered(bytes32 indexed cvm, bytes32 indexed key, address cvmAddress, uint64 offer, uint64 index, string recipient, bytes certificate, bytes binding);
    event CvmHeartbeat(bytes32 indexed cvm, uint64 index);
    event CvmUpdated(bytes32 indexed cvm, bytes32 certificateSha256, uint64 notAfter, uint64 index, bytes certificate);
    event OrderCreated(uint64 indexed order, bytes32 indexed creator, bytes32 indexed cvm, bytes args);
    event OrderStarted(uint64 indexed order, uint64 index);
    event OrderCanceled(uint64 indexed order, bool stopRequested, uint64 index);
    event OrderFailed(uint64 indexed order, uint64 index, string reason);
    event ReportSubmitted(uint64 indexed order, bytes32 reportSha256, uint64 index, bytes report);
    event ServiceStarted(uint64 indexed order, bytes32 reportSha256, bytes32 tlsKeySha256, uint64 index, string endpoint, bytes report);
    event Subscribed(uint64 indexed order, bytes32 indexed account, uint64 deposit, uint64 index);
    event UsageRecorded(uint64 indexed order, uint64 index, bytes args);
    event GrantsUsed(uint64 indexed order, uint64 index, bytes args);
    event GrantRevoked(bytes32 indexed grant, bytes32 indexed owner, uint64 index);
    event OrderTaken(uint64 indexed order, bytes32 indexed cvm, uint64 index);
    event OrderReassigned(uint64 indexed order, bytes32 indexed cvm, uint64 billed, uint64 index);
    event ServiceJoined(uint64 indexed order, bytes32 indexed cvm, uint64 index, string endpoint);

    /// `isDev`: the faucet (fund) works; on any other ledger it is dev_only.

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
    uint8 internal constant F_ON_OFFER = 8; // placed on a tee offer: any CVM of it takes it (cvm 0 until then)

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
        uint64 billed; // seconds billed per hour on CVMs that failed (orders.reassign)
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

    /// A split service's worker CVM; `joinedAt` 0 and `endpoint` empty until
    /// its first services.join.
    struct Worker {
        bytes32 cvm;
        uint64 joinedAt;
        string endpoint;
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
    // Written only where they are not the default, so that calls without
    // them cost what they did:
    mapping(uint64 => uint64) internal offerTimeouts_; // a tee offer's failover timeout; 0: the default
    mapping(bytes32 => uint256) internal cvmResources_; // a CVM's declared resources (_packResources); 0: none
    mapping(uint64 => uint256) internal orderNeeds_; // what an order on an offer needs (_packResources); 0: none
    mapping(uint64 => Worker[]) internal workers_; // a split service's workers, as listed

    /// Resources in one word: 1 << 255 when present, then cores, MiB and GPUs
    /// (each checked against its bound, far below 2^64).
    function _packResources(Resources calldata r) internal pure returns (uint256) {
        if (!r.present) return 0;
        return (1 << 255) | (uint256(r.cores) << 128) | (uint256(r.memoryMib) << 64) | r.gpus;
    }

    function _unpackResources(uint256 w) internal pure returns (Resources memory r) {
        if (w != 0) r = Resources(true, uint64(w >> 128), uint64(w >> 64), uint64(w));
    }

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

    function _checkAmount(uint256 n) internal pure {
        if (n > MAX_AMOUNT) revert Malformed(M_AMOUNT);
    }

    /// The sender's account id (every call but register needs one).
    function _sender() internal view returns (bytes32 id) {
        id = accountOf[msg.sender];
        if (id == 0) revert UnknownAddress(msg.sender);
    }

    /// This call's record index; counts it.
    function _record() internal returns (uint64 index) {
        index = totals_.records;
        totals_.records = index + 1;
    }
}

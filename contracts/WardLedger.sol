// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {WardLedgerState} from "./WardLedgerState.sol";
import {WardLedgerViews} from "./WardLedgerViews.sol";

/// Ward's ledger on an EVM chain: the rules of src/ledger/contract.cpp, rule
/// for rule and check for check, in the same order (docs/ledger.md, "Contract
/// rules"). Each external state-changing function is one Ward transaction
/// type; contracts/README.md maps them, and maps each custom error to its
/// reason code. Large data (certificates, reports, names) lives in events;
/// storage keeps what a rule compares (hashes) or counts.
contract WardLedger is WardLedgerState {
    // --- arguments ---
    struct ServeArgs {
        bool present; // false: a batch order (no "serve")
        uint8 access; // public 0, accounts 1, subscribers 2
        bytes32[] accounts; // accounts: 1..256, none twice; otherwise none
        uint64 perRequest; // subscribers only; 0 otherwise
        uint64 per1kTokens; // subscribers only; 0 otherwise
    }

    struct OrderArgs {
        bytes32 cvm; // 0 when onOffer
        bool onOffer; // placed on tee offer `offer`: any CVM of it takes it
        uint64 offer; // 0 unless onOffer
        Resources needs; // with onOffer: what a CVM must declare to take it
        string engine;
        string[] inputs;
        string[] outputs;
        uint64[] offers;
        uint64 deposit;
        ServeArgs serve;
        bytes32[] workers; // a split service's worker CVMs: with serve and cvm only, 0..7, none twice, not cvm
    }

    /// What the contract.cpp parser reads out of a signed report; the C++
    /// client fills it from the report it sends, verifiers recheck it
    /// against the emitted bytes.
    struct ReportClaims {
        bytes32 ledger;
        bytes32 cvm;
        uint64 order;
        string engine;
        bool service; // report.service is present
        bytes32 tlsKeySha256; // report.service.tls_key_sha256
        string endpoint; // report.service.endpoint
        bytes32[] inputs; // report.inputs[].plaintext_sha256, in order
    }

    struct GrantUse {
        bytes32 id;
        bytes32 owner;
        uint64 uses; // 0 = no limit, else at most 100000
    }

    struct Usage {
        bytes32 account;
        uint64 requests;
        uint64 tokens;
        uint64 byteCount; // "bytes" in the JSON transaction
    }

    bytes32 public immutable ledgerId;
    bool public immutable dev;
    /// The WardLedgerViews this contract delegatecalls for its views.
    address public immutable views;

    constructor(bool isDev) {
        dev = isDev;
        ledgerId = sha256(abi.encodePacked("ward/evm-ledger/v1", uint256(block.chainid), address(this)));
        views = address(new WardLedgerViews());
    }

    /// Every other selector is a view of WardLedgerViews, run on this
    /// contract's storage.
    fallback() external {
        address target = views;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    // ===================================================================
    // accounts
    // ===================================================================

    /// accounts.register: the sender's account, for Ward id `id` (its Ed25519
    /// key). `binding` is id's Ed25519 signature over the sender's address;
    /// only its length is checked here (no Ed25519 on chain).
    function register(bytes32 id, string calldata recipient, string calldata name, bytes calldata binding) external {
        if (id == 0) revert Malformed(M_ID);
        _checkRecipient(recipient);
        if (bytes(name).length > MAX_SHORT) revert Malformed(M_NAME);
        if (binding.length != BINDING_SIZE) revert Malformed(M_BINDING);
        if (accounts_[id].owner != address(0)) revert AlreadyExists(E_ACCOUNT, id);
        if (accountOf[msg.sender] != 0) revert AlreadyExists(E_ADDRESS, bytes32(uint256(uint160(msg.sender))));
        uint64 index = _newAccount(id, msg.sender);
        emit AccountRegistered(id, msg.sender, index, recipient, name, binding);
    }

    /// accounts.fund: the dev faucet.
    function fund(bytes32 to, uint64 amount) external {
        _checkAmount(amount);
        _sender();
        if (!dev) revert DevOnly();
        if (accounts_[to].owner == address(0)) revert UnknownAccount(to);
        Totals storage t = totals_;
        if (amount > MAX_AMOUNT - t.supply) revert Overflow(O_SUPPLY);
        t.supply += amount;
        address owner = _credit(to, amount);
        emit Transfer(address(0), owner, amount);
        emit Funded(to, amount, _record());
    }

    /// accounts.transfer.
    function transfer(bytes32 to, uint64 amount) external {
        _checkAmount(amount);
        _transfer(_sender(), to, amount);
    }

    function _transfer(bytes32 from, bytes32 to, uint64 amount) internal {
        if (accounts_[to].owner == address(0)) revert UnknownAccount(to);
        // Debit before reading the recipient, so a transfer to oneself sees the debit.
        _debit(from, amount);
        address owner = _credit(to, amount);
        emit Transfer(msg.sender, owner, amount);
        emit Transferred(from, to, amount, _record());
    }

    // ===================================================================
    // offers
    // ===================================================================

    /// offers.create: offer id = the record index.
    /// `timeout`: a tee offer's failover timeout (orders.reassign), 1..86400
    /// seconds; 0: none named (the default, 90).
    function createOffer(
        uint8 kind,
        string calldata name,
        string calldata resource,
        Price calldata price,
        uint64 timeout
    ) external returns (uint64 id) {
        if (kind > KIND_TEE) revert Malformed(M_KIND);
        if (bytes(name).length == 0 || bytes(name).length > MAX_SHORT) revert Malformed(M_NAME);
        if (bytes(resource).length == 0 || bytes(resource).length > MAX_LONG) revert Malformed(M_RESOURCE);
        uint64 stored;
        if (price.model == FIXED || price.model == PER_HOUR) {
            if (price.bps != 0) revert Malformed(M_PRICE);
            _checkAmount(price.amount);
            stored = price.amount;
        } else if (price.model == REVENUE_SHARE) {
            if (price.amount != 0 || price.bps > MAX_BPS) revert Malformed(M_PRICE);
            stored = price.bps;
        } else {
            revert Malformed(M_PRICE);
        }
        if (timeout != 0 && (kind != KIND_TEE || timeout > MAX_CVM_TIMEOUT)) revert Malformed(M_TIMEOUT);
        bytes32 owner = _sender();
        id = _record();
        offers_[id] = Offer(msg.sender, kind, price.model, true, stored);
        if (timeout != 0) offerTimeouts_[id] = timeout;
        emit OfferCreated(id, owner, kind, price, name, resource);
    }

    function enableOffer(uint64 offer) external {
        _setOfferEnabled(offer, true);
    }

    function disableOffer(uint64 offer) external {
        _setOfferEnabled(offer, false);
    }

    function _setOfferEnabled(uint64 id, bool enabled) internal {
        _checkAmount(id);
        _sender();
        Offer storage offer = offers_[id];
        if (offer.owner == address(0)) revert NotFound(E_OFFER, bytes32(uint256(id)));
        if (offer.owner != msg.sender) revert NotOwner(E_OFFER, id);
        if (offer.enabled == enabled) revert BadState(enabled ? S_OFFER_ENABLED : S_OFFER_DISABLED, id, 0);
        offer.enabled = enabled;
        emit OfferEnabled(id, enabled, _record());
    }

    // ===================================================================
    // CVMs
    // ===================================================================

    /// cvms.register: CVM id = sha256(key); also creates the CVM's account
    /// (id `key`, sent for by `cvmAddress`). `binding` is key's Ed25519
    /// signature over cvmAddress, checked off chain. `notAfter` is the
    /// certificate's, as the provider read it (0 for one that does not
    /// parse), which the first cvms.update must pass; verifiers reread it
    /// from the emitted certificate. `resources`: what the CVM has, as its
    /// provider declares it (orders.take compares an order's needs).
    function registerCvm(
        bytes32 key,
        address cvmAddress,
        bytes calldata binding,
        string calldata recipient,
        bytes calldata certificate,
        uint64 offer,
        uint64 notAfter,
        Resources calldata resources
    ) external {
        if (key == 0 || cvmAddress == address(0)) revert Malformed(M_ID);
        if (binding.length != BINDING_SIZE) revert Malformed(M_BINDING);
        _checkRecipient(recipient);
        _checkCertificate(certificate);
        _checkAmount(offer);
        _checkResources(resources);
        _sender();
        Offer storage tee = offers_[offer];
        if (tee.owner == address(0)) revert NotFound(E_OFFER, bytes32(uint256(offer)));
        if (tee.owner != msg.sender) revert NotOwner(E_OFFER, offer);
        if (tee.kind != KIND_TEE) revert NotAllowed(A_NOT_TEE_OFFER, offer);
        bytes32 id = sha256(abi.encodePacked(key));
        if (cvms_[id].cvmAddress != address(0)) revert AlreadyExists(E_CVM, id);
        if (accounts_[key].owner != address(0)) revert AlreadyExists(E_ACCOUNT, key);
        if (accountOf[cvmAddress] != 0) revert AlreadyExists(E_ADDRESS, bytes32(uint256(uint160(cvmAddress))));
        uint64 now_ = uint64(block.timestamp);
        Cvm storage cvm = cvms_[id];
        cvm.cvmAddress = cvmAddress;
        cvm.offer = offer;
        cvm.registeredAt = now_;
        cvm.heartbeatAt = now_;
        cvm.recipientHash = keccak256(bytes(recipient));
        cvm.certificateSha256 = sha256(certificate);
        cvm.notAfter = notAfter;
        if (resources.present) cvmResources_[id] = _packResources(resources);
        cvmIds_.push(id);
        uint64 index = _newAccount(key, cvmAddress);
        emit CvmRegistered(id, key, cvmAddress, offer, index, recipient, certificate, binding);
    }

    /// cvms.heartbeat, sent by the CVM.
    function heartbeat() external {
        bytes32 id = _cvmIdOf(_sender());
        Cvm storage cvm = cvms_[id];
        if (cvm.cvmAddress == address(0)) revert NotAllowed(A_NOT_A_CVM, 0);
        cvm.heartbeatAt = uint64(block.timestamp);
        emit CvmHeartbeat(id, _record());
    }

    /// cvms.update, sent by the CVM: `certKey`, `certRecipient` and `notAfter`
    /// are what the certificate says (its Ed25519 key, its age recipient
    /// extension, its notAfter), as the CVM claims them; verifiers reread
    /// them from the emitted certificate.
    function updateCvm(bytes calldata certificate, bytes32 certKey, string calldata certRecipient, uint64 notAfter)
        external
    {
        _checkCertificate(certificate);
        _checkRecipient(certRecipient);
        bytes32 key = _sender();
        bytes32 id = _cvmIdOf(key);
        Cvm storage cvm = cvms_[id];
        if (cvm.cvmAddress == address(0)) revert NotAllowed(A_NOT_LISTED_CVM, 0);
        if (certKey != key) revert CertificateMismatch(C_KEY, certKey, key);
        bytes32 recipientHash = keccak256(bytes(certRecipient));
        if (recipientHash != cvm.recipientHash) {
            revert CertificateMismatch(C_RECIPIENT, recipientHash, cvm.recipientHash);
        }
        // A recorded certificate whose notAfter is unknown has none to keep.
        if (cvm.notAfter != 0 && notAfter <= cvm.notAfter) {
            revert BadState(S_CERTIFICATE_NOT_LATER, notAfter, cvm.notAfter);
        }
        bytes32 sha = sha256(certificate);
        cvm.certificateSha256 = sha;
        cvm.notAfter = notAfter;
        emit CvmUpdated(id, sha, notAfter, _record(), certificate);
    }

    // ===================================================================
    // orders
    // ===================================================================

    /// orders.create: order id = the record index.
    function createOrder(OrderArgs calldata a) external returns (uint64 id) {
        _checkOrderArgs(a);
        bytes32 creator = _sender();
        uint64 teeOffer;
        address cvmAddress;
        if (a.onOffer) {
            teeOffer = a.offer;
            Offer storage tee = offers_[teeOffer];
            if (tee.owner == address(0)) revert NotFound(E_OFFER, bytes32(uint256(teeOffer)));
            if (tee.kind != KIND_TEE) revert NotAllowed(A_NOT_TEE_OFFER, teeOffer);
            if (!tee.enabled) revert BadState(S_TEE_OFFER_DISABLED, teeOffer, 0);
        } else {
            Cvm storage cvm = cvms_[a.cvm];
            cvmAddress = cvm.cvmAddress;
            if (cvmAddress == address(0)) revert NotFound(E_CVM, a.cvm);
            teeOffer = cvm.offer;
            if (!offers_[teeOffer].enabled) revert BadState(S_TEE_OFFER_DISABLED, teeOffer, 0);
        }
        for (uint256 i = 0; i < a.workers.length; ++i) {
            if (cvms_[a.workers[i]].cvmAddress == address(0)) revert NotFound(E_CVM, a.workers[i]);
        }
        uint256 bps = 0;
        for (uint256 i = 0; i < a.offers.length; ++i) {
            uint64 oid = a.offers[i];
            Offer storage offer = offers_[oid];
            if (offer.owner == address(0)) revert NotFound(E_OFFER, bytes32(uint256(oid)));
            if (offer.kind == KIND_TEE) revert NotAllowed(A_TEE_OFFER_LISTED, oid);
            if (!offer.enabled) revert BadState(S_OFFER_DISABLED, oid, 0);
            if (offer.model == REVENUE_SHARE) bps += offer.amount;
        }
        if (a.serve.present && bps > MAX_BPS) revert NotAllowed(A_REVENUE_SHARES, uint64(bps));
        _intoEscrow(creator, a.deposit);
        id = _record();
        Order storage o = orders_[id];
        o.creator = msg.sender;
        o.deposit = a.deposit;
        o.offerCount = uint16(a.offers.length);
        o.cvm = cvmAddress;
        o.teeOffer = teeOffer;
        if (a.onOffer) {
            o.flags = F_ON_OFFER;
            if (a.needs.present) orderNeeds_[id] = _packResources(a.needs);
        }
        o.engineHash = keccak256(bytes(a.engine));
        o.createdAt = uint64(block.timestamp);
        for (uint256 i = 0; i < a.offers.length; i += 2) {
            uint256 pair = uint256(a.offers[i]) << 192;
            if (i + 1 < a.offers.length) pair |= uint256(a.offers[i + 1]) << 64;
            listed_[id][i / 2] = pair;
        }
        if (a.serve.present) {
            o.flags = F_SERVICE;
            for (uint256 i = 0; i < a.workers.length; ++i) workers_[id].push().cvm = a.workers[i];
            Service storage s = services_[id];
            s.access = a.serve.access;
            s.perRequest = a.serve.perRequest;
            s.per1kTokens = a.serve.per1kTokens;
        }
        emit OrderCreated(id, creator, a.cvm, msg.data[4:]);
    }

    /// orders.start, sent by the order's CVM: New -> Processing.
    function startOrder(uint64 id) external {
        _checkAmount(id);
        _sender();
        Order storage o = _orderForCvm(id);
        if (o.status != NEW) revert BadState(S_ORDER_STATUS, id, o.status);
        o.status = PROCESSING;
        o.startedAt = uint64(block.timestamp);
        emit OrderStarted(id, _record());
    }

    /// orders.cancel, sent by the creator: New -> Canceled with a full refund;
    /// on a Processing service order, a request to stop.
    function cancelOrder(uint64 id) external {
        _checkAmount(id);
        _sender();
        Order storage o = orders_[id];
        if (o.creator == address(0)) revert NotFound(E_ORDER, bytes32(uint256(id)));
        if (o.creator != msg.sender) revert NotOwner(E_ORDER, id);
        if (o.flags & F_SERVICE != 0 && o.status == PROCESSING) {
            Service storage s = services_[id];
            if (s.cancelRequested != 0) revert AlreadyExists(E_STOP_REQUEST, bytes32(uint256(id)));
            s.cancelRequested = uint64(block.timestamp);
            emit OrderCanceled(id, true, _record());
            return;
        }
        if (o.status != NEW) revert BadState(S_ORDER_STATUS, id, o.status);
        o.status = CANCELED;
        o.endedAt = uint64(block.timestamp);
        // Moved off a CVM that failed: that CVM's time is paid, the rest refunded.
        if (o.billed != 0) {
            _settleBatch(id, o);
            emit OrderCanceled(id, false, _record());
            return;
        }
        o.refund = o.deposit;
        _outOfEscrow(accountOf[msg.sender], o.deposit);
        if (o.flags & F_SERVICE != 0) _closeSubscriptions(id);
        emit OrderCanceled(id, false, _record());
    }

    /// orders.fail, sent by the order's CVM: Processing -> Error, settled.
    function failOrder(uint64 id, string calldata reason) external {
        _checkAmount(id);
        if (bytes(reason).length == 0 || bytes(reason).length > MAX_LONG) revert Malformed(M_REASON);
        _sender();
        Order storage o = _orderForCvm(id);
        if (o.status != PROCESSING) revert BadState(S_ORDER_STATUS, id, o.status);
        o.status = ERROR;
        o.endedAt = uint64(block.timestamp);
        _settle(id, o);
        emit OrderFailed(id, _record(), reason);
    }

    // ===================================================================
    // reports and services
    // ===================================================================

    /// reports.submit, sent by the order's CVM: Processing -> Done, settled.
    /// `report` is the signed report's canonical JSON; `claims` what the
    /// ledger's parser reads from it (unverifiable here; see README).
    function submitReport(uint64 id, bytes calldata report, ReportClaims calldata claims) external {
        _checkAmount(id);
        _checkReport(report, claims);
        bytes32 key = _sender();
        Order storage o = _orderForCvm(id);
        if (o.reportSha256 != 0) revert AlreadyExists(E_REPORT, bytes32(uint256(id)));
        if (o.status != PROCESSING) revert BadState(S_ORDER_STATUS, id, o.status);
        bool service = o.flags & F_SERVICE != 0;
        if (service && o.flags & F_STARTED == 0) revert BadState(S_NOT_STARTED, id, 0);
        _checkClaims(id, o, key, claims, false);
        bytes32 sha = sha256(report);
        uint64 index = totals_.records;
        o.reportSha256 = sha;
        o.reportIndex = index;
        o.status = DONE;
        o.endedAt = uint64(block.timestamp);
        _settle(id, o);
        emit ReportSubmitted(id, sha, _record(), report);
    }

    /// services.start, sent by the order's CVM on a Processing service order:
    /// records the TLS key and inputs of its start report; the first start
    /// pays the fixed offers.
    function startService(uint64 id, bytes calldata report, ReportClaims calldata claims) external {
        _checkAmount(id);
        _checkReport(report, claims);
        bytes32 key = _sender();
        Order storage o = _processingServiceForCvm(id);
        // A restart (the loader started again) replaces the key: check as unstarted.
        _checkClaims(id, o, key, claims, true);
        Service storage s = services_[id];
        bool started = o.flags & F_STARTED != 0;
        if (started && s.tlsKeySha256 == claims.tlsKeySha256) {
            revert AlreadyExists(E_SERVICE_KEY, bytes32(uint256(id)));
        }
        if (!started) {
            Payee[] memory payees = _openPayments(id, o);
            _payFixed(payees, o.deposit);
            _storePaid(id, o, payees);
        }
        bytes32 sha = sha256(report);
        s.startReportSha256 = sha;
        s.startIndex = totals_.records;
        s.tlsKeySha256 = claims.tlsKeySha256;
        s.inputs = claims.inputs;
        s.servingSince = uint64(block.timestamp);
        o.flags |= F_STARTED;
        emit ServiceStarted(id, sha, claims.tlsKeySha256, _record(), claims.endpoint, report);
    }

    /// services.subscribe: subscribes the sender to a service for
    /// subscribers, or tops its subscription up.
    function subscribe(uint64 id, uint64 deposit) external {
        _checkAmount(id);
        _checkAmount(deposit);
        if (deposit == 0) revert Malformed(M_DEPOSIT);
        bytes32 client = _sender();
        Order storage o = orders_[id];
        if (o.creator == address(0)) revert NotFound(E_ORDER, bytes32(uint256(id)));
        if (o.flags & F_SERVICE == 0) revert BadState(S_NOT_SERVICE, id, 0);
        Service storage s = services_[id];
        if (s.access != SUBSCRIBERS) revert NotAllowed(A_NOT_FOR_SUBSCRIBERS, s.access);
        if (o.status != NEW && o.status != PROCESSING) revert BadState(S_ORDER_STATUS, id, o.status);
        if (s.cancelRequested != 0) revert BadState(S_STOP_REQUESTED, id, 0);
        _intoEscrow(client, deposit);
        Subscription storage sub = subscriptions_[id][client];
        if (sub.deposit == 0) {
            sub.createdAt = uint40(block.timestamp);
            subscribers_[id].push(client);
        }
        if (deposit > MAX_AMOUNT - sub.deposit) revert Overflow(O_DEPOSIT);
        sub.deposit += deposit;
        sub.updatedAt = uint40(block.timestamp);
        emit Subscribed(id, client, deposit, _record());
    }

    /// services.usage, sent by the order's CVM: its subscribers' cumulative
    /// usage, charged; then the per-hour offers are paid.
    function recordUsage(uint64 id, Usage[] calldata usage) external {
        _checkAmount(id);
        if (usage.length > MAX_LIST) revert Malformed(M_USAGE);
        for (uint256 i = 0; i < usage.length; ++i) {
            _checkAmount(usage[i].requests);
            _checkAmount(usage[i].tokens);
            _checkAmount(usage[i].byteCount);
            for (uint256 j = 0; j < i; ++j) {
                if (usage[j].account == usage[i].account) revert Malformed(M_USAGE);
            }
        }
        _sender();
        Order storage o = _processingServiceForCvm(id);
        if (o.flags & F_STARTED == 0) revert BadState(S_NOT_STARTED, id, 0);
        Service storage s = services_[id];
        if (usage.length != 0 && s.access != SUBSCRIBERS) revert BadState(S_NOT_SUBSCRIBERS, id, s.access);
        Payee[] memory payees = _loadPayees(id, o);
        address creator = o.creator;
        for (uint256 i = 0; i < usage.length; ++i) {
            _chargeUsage(id, s, usage[i], payees, creator);
        }
        uint64 now_ = uint64(block.timestamp);
        bool covered = _payPerHour(payees, o.deposit, o.startedAt, now_);
        _storePaid(id, o, payees);
        // The deposit is spent: the service must end, as if its creator canceled it.
        if (!covered && s.exhaustedAt == 0) {
            s.exhaustedAt = now_;
            if (s.cancelRequested == 0) s.cancelRequested = now_;
        }
        emit UsageRecorded(id, _record(), msg.data[4:]);
    }

    // ===================================================================
    // grants
    // ===================================================================

    /// grants.use, sent by the order's CVM while it is Processing: counts the
    /// order against each grant's use limit, all or nothing.
    function useGrants(uint64 id, GrantUse[] calldata grants) external {
        _checkAmount(id);
        if (grants.length == 0 || grants.length > MAX_LIST) revert Malformed(M_GRANTS);
        for (uint256 i = 0; i < grants.length; ++i) {
            if (grants[i].uses > MAX_GRANT_USES) revert Malformed(M_USES);
            for (uint256 j = 0; j < i; ++j) {
                if (grants[j].id == grants[i].id && grants[j].owner == grants[i].owner) revert Malformed(M_GRANTS);
            }
        }
        _sender();
        Order storage o = _orderForCvm(id);
        if (o.status != PROCESSING) revert BadState(S_ORDER_STATUS, id, o.status);
        for (uint256 i = 0; i < grants.length; ++i) {
            GrantUse calldata g = grants[i];
            bytes32 gk = keccak256(abi.encode(g.id, g.owner));
            Grant storage grant = grants_[gk];
            if (grant.revoked) revert Revoked(g.id, g.owner);
            if (g.uses == 0 || grantOrders_[gk][id]) continue;
            if (grant.count >= g.uses) revert UsedUp(g.id, g.uses);
            grantOrders_[gk][id] = true;
            grant.count += 1;
        }
        emit GrantsUsed(id, _record(), msg.data[4:]);
    }

    /// grants.revoke: the sender revokes its grant `grant`.
    function revokeGrant(bytes32 grant) external {
        bytes32 owner = _sender();
        Grant storage g = grants_[keccak256(abi.encode(grant, owner))];
        if (g.revoked) revert AlreadyExists(E_GRANT, grant);
        g.revoked = true;
        g.revokedAt = uint64(block.timestamp);
        emit GrantRevoked(grant, owner, _record());
    }

    /// ERC-20 transfer: accounts.transfer to the account `to` owns.
    function transfer(address to, uint256 value) external returns (bool) {
        _checkAmount(value);
        bytes32 from = _sender();
        bytes32 toId = accountOf[to];
        if (toId == 0) revert UnknownAddress(to);
        _transfer(from, toId, uint64(value));
        return true;
    }

    // ===================================================================
    // internals: arguments (the parser's checks: Malformed)
    // ===================================================================

    function _checkRecipient(string calldata r) internal pure {
        bytes calldata b = bytes(r);
        if (b.length < 4 || b.length > MAX_LONG || bytes4(b[:4]) != "age1") revert Malformed(M_RECIPIENT);
    }

    function _checkCertificate(bytes calldata c) internal pure {
        if (c.length == 0 || c.length > MAX_ENVELOPE) revert Malformed(M_CERTIFICATE);
    }

    function _checkResources(Resources calldata r) internal pure {
        if (r.present ? r.cores > MAX_CORES || r.memoryMib > MAX_MEMORY_MIB || r.gpus > MAX_GPUS
                : r.cores != 0 || r.memoryMib != 0 || r.gpus != 0) {
            revert Malformed(M_RESOURCES);
        }
    }

    function _checkOrderArgs(OrderArgs calldata a) internal pure {
        if (a.onOffer ? a.cvm != 0 : a.offer != 0) revert Malformed(M_CVM_OR_OFFER);
        if (a.onOffer && a.serve.present) revert Malformed(M_SERVE);
        _checkResources(a.needs);
        if (a.needs.present && !a.onOffer) revert Malformed(M_RESOURCES);
        _checkAmount(a.offer);
        if (a.workers.length != 0) {
            if (!a.serve.present || a.workers.length > MAX_WORKERS) revert Malformed(M_WORKERS);
            for (uint256 i = 0; i < a.workers.length; ++i) {
                if (a.workers[i] == a.cvm) revert Malformed(M_WORKERS);
                for (uint256 j = 0; j < i; ++j) {
                    if (a.workers[j] == a.workers[i]) revert Malformed(M_WORKERS);
                }
            }
        }
        uint256 engine = bytes(a.engine).length;
        if (engine == 0 || engine > MAX_SHORT) revert Malformed(M_ENGINE);
        for (uint256 i = 0; i < a.inputs.length; ++i) {
            uint256 n = bytes(a.inputs[i]).length;
            if (n == 0 || n > MAX_LONG) revert Malformed(M_INPUTS);
        }
        ServeArgs calldata serve = a.serve;
        if (serve.present) {
            if (serve.access > SUBSCRIBERS) revert Malformed(M_SERVE);
            if (serve.access != SUBSCRIBERS && (serve.perRequest != 0 || serve.per1kTokens != 0)) {
                revert Malformed(M_SERVE);
            }
            _checkAmount(serve.perRequest);
            _checkAmount(serve.per1kTokens);
            if (serve.access == ACCOUNTS) {
                if (serve.accounts.length == 0 || serve.accounts.length > MAX_LIST) revert Malformed(M_ACCOUNTS);
                for (uint256 i = 0; i < serve.accounts.length; ++i) {
                    for (uint256 j = 0; j < i; ++j) {
                        if (serve.accounts[j] == serve.accounts[i]) revert Malformed(M_ACCOUNTS);
                    }
                }
            } else if (serve.accounts.length != 0) {
                revert Malformed(M_ACCOUNTS);
            }
            if (a.outputs.length != 0) revert Malformed(M_OUTPUTS);
        } else {
            if (serve.access != 0 || serve.accounts.length != 0 || serve.perRequest != 0 || serve.per1kTokens != 0) {
                revert Malformed(M_SERVE);
            }
            if (a.outputs.length == 0) revert Malformed(M_OUTPUTS);
        }
        for (uint256 i = 0; i < a.outputs.length; ++i) {
            bytes calldata r = bytes(a.outputs[i]);
            if (r.length < 4 || r.length > MAX_LONG || bytes4(r[:4]) != "age1") revert Malformed(M_OUTPUTS);
        }
        for (uint256 i = 0; i < a.offers.length; ++i) {
            _checkAmount(a.offers[i]);
            for (uint256 j = 0; j < i; ++j) {
                if (a.offers[j] == a.offers[i]) revert Malformed(M_OFFERS);
            }
        }
        _checkAmount(a.deposit);
    }

    function _checkReport(bytes calldata report, ReportClaims calldata c) internal pure {
        if (report.length == 0 || report.length > MAX_ENVELOPE) revert Malformed(M_REPORT);
        _checkAmount(c.order);
        uint256 engine = bytes(c.engine).length;
        if (engine == 0 || engine > MAX_SHORT) revert Malformed(M_ENGINE);
        bytes calldata endpoint = bytes(c.endpoint);
        if (c.service) {
            if (endpoint.length < 8 || endpoint.length > MAX_ENDPOINT || bytes8(endpoint[:8]) != "https://") {
                revert Malformed(M_ENDPOINT);
            }
        } else if (c.tlsKeySha256 != 0 || endpoint.length != 0 || c.inputs.length != 0) {
            revert Malformed(M_REPORT);
        }
    }

    // ===================================================================
    // internals: accounts and money
    // ===================================================================

    function _newAccount(bytes32 id, address owner) internal returns (uint64 index) {
        index = _record();
        if (index > type(uint32).max) revert Overflow(O_RECORDS);
        accounts_[id] = Account(owner, 0, uint32(index));
        accountOf[owner] = id;
    }

    function _credit(bytes32 id, uint256 amount) internal returns (address owner) {
        Account storage a = accounts_[id];
        owner = a.owner;
        if (owner == address(0)) revert UnknownAccount(id);
        if (amount > MAX_AMOUNT - a.balance) revert Overflow(O_BALANCE);
        a.balance += uint64(amount);
    }

    function _debit(bytes32 id, uint64 amount) internal {
        Account storage a = accounts_[id];
        if (a.owner == address(0)) revert UnknownAccount(id);
        if (a.balance < amount) revert InsufficientFunds(a.balance, amount);
        a.balance -= amount;
    }

    /// Moves `amount` from `from`'s balance into escrow.
    function _intoEscrow(bytes32 from, uint64 amount) internal {
        _debit(from, amount);
        Totals storage t = totals_;
        if (amount > MAX_AMOUNT - t.escrow) revert Overflow(O_ESCROW);
        t.escrow += amount;
        if (amount != 0) emit Transfer(accounts_[from].owner, address(this), amount);
    }

    /// Pays `amount` out of escrow to `to`.
    function _outOfEscrow(bytes32 to, uint256 amount) internal {
        Totals storage t = totals_;
        if (t.escrow < amount) revert Overflow(O_ESCROW);
        t.escrow -= uint64(amount);
        address owner = _credit(to, amount);
        if (amount != 0) emit Transfer(address(this), owner, amount);
    }

    // ===================================================================
    // internals: orders
    // ===================================================================

    /// An order whose CVM is the sender, or the reason it is not.
    function _orderForCvm(uint64 id) internal view returns (Order storage o) {
        o = orders_[id];
        if (o.creator == address(0)) revert NotFound(E_ORDER, bytes32(uint256(id)));
        if (o.cvm != msg.sender) revert NotAllowed(A_NOT_ORDERS_CVM, id);
    }

    /// A service order, Processing, whose CVM is the sender.
    function _processingServiceForCvm(uint64 id) internal view returns (Order storage o) {
        o = _orderForCvm(id);
        if (o.flags & F_SERVICE == 0) revert BadState(S_NOT_SERVICE, id, 0);
        if (o.status != PROCESSING) revert BadState(S_ORDER_STATUS, id, o.status);
    }

    /// The report checks, in the documented order ("Reports" in
    /// docs/ledger.md), but for the signature, which verifiers check.
    /// `unstarted`: a services.start, which names a new TLS key.
    function _checkClaims(uint64 id, Order storage o, bytes32 key, ReportClaims calldata c, bool unstarted)
        internal
        view
    {
        if (c.order != id) revert ReportMismatch(R_ORDER, bytes32(uint256(c.order)), bytes32(uint256(id)));
        if (c.ledger != ledgerId) revert ReportMismatch(R_LEDGER, c.ledger, ledgerId);
        bytes32 cvm = _cvmIdOf(key); // the sender is the order's CVM
        if (c.cvm != cvm) revert ReportMismatch(R_CVM, c.cvm, cvm);
        bytes32 engine = keccak256(bytes(c.engine));
        if (engine != o.engineHash) revert ReportMismatch(R_ENGINE, engine, o.engineHash);
        if (o.flags & F_SERVICE == 0) {
            if (c.service) revert ReportMismatch(R_NOT_A_SERVICE, bytes32(uint256(id)), 0);
            return;
        }
        if (!c.service) revert ReportMismatch(R_NO_SERVICE, bytes32(uint256(id)), 0);
        if (!unstarted && o.flags & F_STARTED != 0) {
            bytes32 started = services_[id].tlsKeySha256;
            if (c.tlsKeySha256 != started) revert ReportMismatch(R_TLS_KEY, c.tlsKeySha256, started);
        }
    }

    function _storePaid(uint64 id, Order storage o, Payee[] memory payees) internal {
        o.teePaid = payees[0].paid;
        for (uint256 i = 1; i < payees.length; i += 2) {
            uint256 pair = (uint256(payees[i].offer) << 192) | (uint256(payees[i].paid) << 128);
            if (i + 1 < payees.length) pair |= (uint256(payees[i + 1].offer) << 64) | payees[i + 1].paid;
            if (listed_[id][(i - 1) / 2] != pair) listed_[id][(i - 1) / 2] = pair;
        }
    }

    /// A service order's payments, made once, when money first moves.
    function _openPayments(uint64 id, Order storage o) internal returns (Payee[] memory) {
        o.flags |= F_PAYMENTS;
        return _loadPayees(id, o);
    }

    /// What a price pays at settlement: fixed its amount (on Done only),
    /// per_hour ceil(amount * seconds / 3600), revenue_share nothing; at most `left`.
    function _settlementAmount(Payee memory p, bool done, uint256 secs, uint256 left) internal pure returns (uint64) {
        uint256 amount = 0;
        if (p.model == FIXED) {
            amount = done ? p.price : 0;
        } else if (p.model == PER_HOUR) {
            amount = (uint256(p.price) * secs + 3599) / 3600;
        }
        return uint64(amount < left ? amount : left);
    }

    /// What is left of a service order's deposit: revenue_share payees are
    /// paid from subscriptions, everyone else from the deposit.
    function _depositLeft(Payee[] memory payees, uint64 deposit) internal pure returns (uint64) {
        uint256 paid = 0;
        for (uint256 i = 0; i < payees.length; ++i) {
            if (payees[i].model != REVENUE_SHARE) paid += payees[i].paid;
        }
        return uint64(deposit - paid);
    }

    function _pay(Payee memory p, uint256 amount) internal {
        _outOfEscrow(accountOf[p.owner], amount);
        p.paid += uint64(amount);
    }

    function _settle(uint64 id, Order storage o) internal {
        if (o.flags & F_SERVICE != 0) _settleService(id, o);
        else _settleBatch(id, o);
    }

    /// Pays the provider, then each listed offer, then refunds the rest;
    /// moves exactly the deposit out of escrow.
    function _settleBatch(uint64 id, Order storage o) internal {
        bool done = o.status == DONE;
        // Time on CVMs that failed counts up to each one's last heartbeat; a
        // canceled order (New again after a failover) runs on no CVM now.
        uint256 secs = o.billed;
        if (o.status != CANCELED && o.endedAt >= o.startedAt) secs += o.endedAt - o.startedAt;
        uint64 deposit = o.deposit;
        uint256 left = deposit;
        Payee[] memory payees = _loadPayees(id, o);
        for (uint256 i = 0; i < payees.length; ++i) {
            Payee memory p = payees[i];
            uint64 amount = _settlementAmount(p, done, secs, left);
            left -= amount;
            address owner = _credit(accountOf[p.owner], amount);
            if (amount != 0) emit Transfer(address(this), owner, amount);
            p.paid = amount;
        }
        address creator = _credit(accountOf[o.creator], left);
        if (left != 0) emit Transfer(address(this), creator, left);
        o.refund = uint64(left);
        Totals storage t = totals_;
        if (t.escrow < deposit) revert Overflow(O_ESCROW);
        t.escrow -= deposit;
        o.flags |= F_PAYMENTS;
        _storePaid(id, o, payees);
    }

    /// At a service's first start: each fixed offer, as far as the deposit goes.
    function _payFixed(Payee[] memory payees, uint64 deposit) internal {
        for (uint256 i = 0; i < payees.length; ++i) {
            if (payees[i].model != FIXED) continue;
            _pay(payees[i], _settlementAmount(payees[i], true, 0, _depositLeft(payees, deposit)));
        }
    }

    /// Each per_hour offer what it is owed from orders.start to `now`, less
    /// what it was paid, as far as the deposit goes. False when the deposit
    /// could not pay all that is owed.
    function _payPerHour(Payee[] memory payees, uint64 deposit, uint64 startedAt, uint64 now_)
        internal
        returns (bool covered)
    {
        uint256 secs = now_ >= startedAt ? now_ - startedAt : 0;
        covered = true;
        for (uint256 i = 0; i < payees.length; ++i) {
            Payee memory p = payees[i];
            if (p.model != PER_HOUR) continue;
            uint256 owed = _settlementAmount(p, true, secs, MAX_AMOUNT) - p.paid;
            uint256 left = _depositLeft(payees, deposit);
            uint256 amount = owed < left ? owed : left;
            covered = covered && amount == owed;
            _pay(p, amount);
        }
    }

    /// `amount` newly charged to the subscribers: each revenue_share offer is
    /// paid up to floor(revenue * bps / 10000) in all, the creator the rest.
    function _shareRevenue(Service storage s, Payee[] memory payees, address creator, uint64 amount) internal {
        if (amount > MAX_AMOUNT - s.revenue) revert Overflow(O_REVENUE);
        uint256 revenue = s.revenue + amount;
        s.revenue = uint64(revenue);
        uint256 left = amount;
        for (uint256 i = 0; i < payees.length; ++i) {
            Payee memory p = payees[i];
            if (p.model != REVENUE_SHARE) continue;
            uint256 due = (revenue * p.price) / MAX_BPS - p.paid;
            uint256 paid = due < left ? due : left;
            _pay(p, paid);
            left -= paid;
        }
        _outOfEscrow(accountOf[creator], left);
    }

    /// Records one subscriber's usage and charges its subscription what the
    /// new counters cost beyond what it was charged, at most its deposit.
    function _chargeUsage(uint64 id, Service storage s, Usage calldata u, Payee[] memory payees, address creator)
        internal
    {
        Subscription storage sub = subscriptions_[id][u.account];
        if (sub.deposit == 0) revert NotFound(E_SUBSCRIPTION, u.account);
        if (u.requests < sub.requests) revert UsageRegressed(u.account, U_REQUESTS, u.requests, sub.requests);
        if (u.tokens < sub.tokens) revert UsageRegressed(u.account, U_TOKENS, u.tokens, sub.tokens);
        if (u.byteCount < sub.byteCount) revert UsageRegressed(u.account, U_BYTES, u.byteCount, sub.byteCount);
        // Each product is below 2^126, so the sum is exact.
        uint256 cost = uint256(u.requests) * s.perRequest + (uint256(u.tokens) * s.per1kTokens + 999) / 1000;
        uint64 charged = cost < sub.deposit ? uint64(cost) : sub.deposit;
        uint64 delta = charged - sub.charged;
        sub.charged = charged;
        sub.requests = u.requests;
        sub.tokens = u.tokens;
        sub.byteCount = u.byteCount;
        sub.updatedAt = uint40(block.timestamp);
        _shareRevenue(s, payees, creator, delta);
    }

    /// When a service order ends: every subscription is closed and what it
    /// was not charged goes back to its subscriber.
    function _closeSubscriptions(uint64 id) internal {
        bytes32[] storage list = subscribers_[id];
        for (uint256 i = 0; i < list.length; ++i) {
            Subscription storage sub = subscriptions_[id][list[i]];
            uint64 refund = sub.deposit - sub.charged;
            sub.refund = refund;
            sub.closed = true;
            sub.updatedAt = uint40(block.timestamp);
            _outOfEscrow(list[i], refund);
        }
    }

    /// A service order's fixed offers were paid at its first start and its
    /// other payees as it ran: what is still owed per hour, then the rest of
    /// the deposit back to the creator, and every subscription closed.
    function _settleService(uint64 id, Order storage o) internal {
        Payee[] memory payees = _openPayments(id, o);
        _payPerHour(payees, o.deposit, o.startedAt, o.endedAt);
        uint64 refund = _depositLeft(payees, o.deposit);
        o.refund = refund;
        _outOfEscrow(accountOf[o.creator], refund);
        _closeSubscriptions(id);
        _storePaid(id, o, payees);
    }


}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {WardLedgerState} from "./WardLedgerState.sol";

/// WardLedger's views, split off to keep each contract under EIP-170's
/// 24,576 bytes. WardLedger deploys this contract in its constructor and
/// delegatecalls it for every selector it does not have itself, so a client
/// calls these on WardLedger's address; called here directly they read an
/// empty ledger.
contract WardLedgerViews is WardLedgerState {
    // ===================================================================
    // ERC-20 view of the token (decimals 0: one unit is one Ward token)
    // ===================================================================

    function name() external pure returns (string memory) {
        return "Ward";
    }

    function symbol() external pure returns (string memory) {
        return "WARD";
    }

    function decimals() external pure returns (uint8) {
        return 0;
    }

    function totalSupply() external view returns (uint256) {
        return totals_.supply;
    }

    /// The balance of the account `who` owns; this contract's is the escrow.
    function balanceOf(address who) external view returns (uint256) {
        if (who == address(this)) return totals_.escrow;
        return accounts_[accountOf[who]].balance;
    }

    // ===================================================================
    // views: the queries of LedgerClient (src/ledger/client.h). A missing
    // entity reads as zeros (its id or owner 0); lists are in id order.
    // ===================================================================

    struct AccountView {
        bytes32 id;
        address owner;
        uint64 balance;
        uint64 created;
    }

    struct OfferView {
        uint64 id;
        bytes32 owner;
        uint8 kind;
        Price price;
        bool enabled;
        uint64 timeout; // a tee offer's failover timeout as created; 0: none named (the default, 90 s)
    }

    struct CvmView {
        bytes32 id;
        bytes32 key;
        address cvmAddress;
        uint64 offer;
        bytes32 provider;
        uint64 registeredAt;
        uint64 heartbeatAt;
        bytes32 recipientHash; // keccak256 of its age recipient (the string is in CvmRegistered)
        bytes32 certificateSha256; // the certificate is in CvmRegistered / CvmUpdated
        uint64 notAfter; // 0 until the first cvms.update
        Resources resources; // as its provider declared them
    }

    struct PaymentView {
        uint64 offer;
        bytes32 to;
        Price price;
        uint64 amount;
    }

    struct ServeView {
        uint8 access;
        uint64 perRequest;
        uint64 per1kTokens;
        bool started;
        bytes32 tlsKeySha256;
        bytes32[] inputs;
        uint64 servingSince; // 0 = null
        uint64 cancelRequested; // 0 = null
        uint64 exhaustedAt; // 0 = null
        uint64 revenue;
        WorkerView[] workers; // a split service's worker CVMs, as listed
    }

    struct WorkerView {
        bytes32 cvm;
        string endpoint; // "" until it joins
        uint64 joinedAt; // 0 = null
    }

    struct OrderView {
        uint64 id;
        bytes32 creator; // 0: no order
        bytes32 cvm;
        bytes32 engineHash; // keccak256 of the engine (the strings are in OrderCreated)
        uint64[] offers;
        uint64 deposit;
        uint8 status;
        uint64 createdAt;
        uint64 startedAt;
        uint64 endedAt;
        PaymentView[] payments; // empty until money first moves
        uint64 refund;
        bool service;
        ServeView serve;
        uint64 teeOffer; // an order placed on a tee offer: the offer (its cvm 0 until taken); else 0
        uint64 billed; // seconds billed per hour on CVMs that failed
        Resources needs; // what a CVM must declare to take it
    }

    struct ReportView {
        uint64 order;
        bytes32 reportSha256; // 0: no report (the bytes are in ReportSubmitted / ServiceStarted)
        uint64 index;
        uint64 time;
    }

    struct SubscriptionView {
        uint64 order;
        bytes32 account; // 0: no subscription
        uint64 deposit;
        uint64 charged;
        uint64 requests;
        uint64 tokens;
        uint64 byteCount;
        uint64 createdAt;
        uint64 updatedAt;
        bool closed;
        uint64 refund;
    }

    struct GrantView {
        bytes32 id;
        bytes32 owner;
        uint64 uses; // orders recorded under a use limit (their ids are in GrantsUsed)
        bool revoked;
        uint64 revokedAt;
    }

    struct OrderFilter {
        bytes32 creator; // 0: any
        bytes32 cvm; // 0: any
        bool hasStatus;
        uint8 status;
        uint64 first; // orders with id >= first
        uint64 limit; // at most this many
    }

    /// (records, supply, escrow): supply == sum of balances + escrow.
    function totals() external view returns (uint64 records, uint64 supply, uint64 escrow) {
        Totals storage t = totals_;
        return (t.records, t.supply, t.escrow);
    }

    function account(bytes32 id) external view returns (AccountView memory v) {
        Account storage a = accounts_[id];
        if (a.owner != address(0)) v = AccountView(id, a.owner, a.balance, a.created);
    }

    function offer(uint64 id) public view returns (OfferView memory v) {
        Offer storage o = offers_[id];
        if (o.owner == address(0)) return v;
        Price memory price = o.model == REVENUE_SHARE ? Price(o.model, 0, uint32(o.amount)) : Price(o.model, o.amount, 0);
        v = OfferView(id, accountOf[o.owner], o.kind, price, o.enabled, offerTimeouts_[id]);
    }

    /// Offers with id >= first, at most `limit`; `next` continues the scan
    /// (== the record count when done).
    function offers(uint64 first, uint64 limit) external view returns (OfferView[] memory list, uint64 next) {
        uint64[] memory ids;
        (ids, next) = _scan(first, limit, true, OrderFilter(0, 0, false, 0, 0, 0));
        list = new OfferView[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) list[i] = offer(ids[i]);
    }

    function cvm(bytes32 id) public view returns (CvmView memory v) {
        Cvm storage c = cvms_[id];
        if (c.cvmAddress == address(0)) return v;
        v = CvmView(
            id,
            accountOf[c.cvmAddress],
            c.cvmAddress,
            c.offer,
            accountOf[offers_[c.offer].owner],
            c.registeredAt,
            c.heartbeatAt,
            c.recipientHash,
            c.certificateSha256,
            c.notAfter,
            _unpackResources(cvmResources_[id])
        );
    }

    /// Every CVM, in registration order.
    function cvms() external view returns (CvmView[] memory list) {
        list = new CvmView[](cvmIds_.length);
        for (uint256 i = 0; i < list.length; ++i) list[i] = cvm(cvmIds_[i]);
    }

    function order(uint64 id) public view returns (OrderView memory v) {
        Order storage o = orders_[id];
        if (o.creator == address(0)) return v;
        v.id = id;
        v.creator = accountOf[o.creator];
        if (o.cvm != address(0)) v.cvm = _cvmIdOf(accountOf[o.cvm]);
        v.engineHash = o.engineHash;
        v.deposit = o.deposit;
        v.status = o.status;
        v.createdAt = o.createdAt;
        v.startedAt = o.startedAt;
        v.endedAt = o.endedAt;
        v.refund = o.refund;
        v.billed = o.billed;
        if (o.flags & F_ON_OFFER != 0) {
            v.teeOffer = o.teeOffer;
            v.needs = _unpackResources(orderNeeds_[id]);
        }
        Payee[] memory payees = _loadPayees(id, o);
        v.offers = new uint64[](payees.length - 1);
        for (uint256 i = 1; i < payees.length; ++i) v.offers[i - 1] = payees[i].offer;
        if (o.flags & F_PAYMENTS != 0) {
            v.payments = new PaymentView[](payees.length);
            for (uint256 i = 0; i < payees.length; ++i) {
                Payee memory p = payees[i];
                Price memory price = p.model == REVENUE_SHARE ? Price(p.model, 0, uint32(p.price)) : Price(p.model, p.price, 0);
                v.payments[i] = PaymentView(p.offer, accountOf[p.owner], price, p.paid);
            }
        }
        if (o.flags & F_SERVICE != 0) {
            Service storage s = services_[id];
            v.service = true;
            v.serve = ServeView(
                s.access,
                s.perRequest,
                s.per1kTokens,
                o.flags & F_STARTED != 0,
                s.tlsKeySha256,
                s.inputs,
                s.servingSince,
                s.cancelRequested,
                s.exhaustedAt,
                s.revenue,
                _workerViews(id)
            );
        }
    }

    function _workerViews(uint64 id) internal view returns (WorkerView[] memory list) {
        Worker[] storage workers = workers_[id];
        list = new WorkerView[](workers.length);
        for (uint256 i = 0; i < list.length; ++i) {
            list[i] = WorkerView(workers[i].cvm, workers[i].endpoint, workers[i].joinedAt);
        }
    }

    /// Orders matching `f`, in id order; `next` continues the scan (== the
    /// record count when done). A scan reads at most 4096 record indexes.
    function orders(OrderFilter calldata f) external view returns (OrderView[] memory list, uint64 next) {
        uint64[] memory ids;
        (ids, next) = _scan(f.first, f.limit, false, f);
        list = new OrderView[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) list[i] = order(ids[i]);
    }

    function _scan(uint64 first, uint64 limit, bool wantOffers, OrderFilter memory f)
        internal
        view
        returns (uint64[] memory ids, uint64 next)
    {
        uint64 end = totals_.records;
        uint256 cap = limit < 1000 ? limit : 1000;
        ids = new uint64[](cap);
        uint256 n = 0;
        uint256 budget = 4096;
        next = first;
        while (next < end && n < cap && budget > 0) {
            uint64 i = next++;
            --budget;
            if (wantOffers) {
                if (offers_[i].owner != address(0)) ids[n++] = i;
                continue;
            }
            Order storage o = orders_[i];
            if (o.creator == address(0)) continue;
            if (f.creator != 0 && accountOf[o.creator] != f.creator) continue;
            if (f.cvm != 0 && (o.cvm == address(0) || _cvmIdOf(accountOf[o.cvm]) != f.cvm)) continue;
            if (f.hasStatus && o.status != f.status) continue;
            ids[n++] = i;
        }
        assembly {
            mstore(ids, n)
        }
    }

    /// An order's final report.
    function report(uint64 id) external view returns (ReportView memory v) {
        Order storage o = orders_[id];
        if (o.reportSha256 != 0) v = ReportView(id, o.reportSha256, o.reportIndex, o.endedAt);
    }

    /// A service order's start report (its last services.start).
    function startReport(uint64 id) external view returns (ReportView memory v) {
        Service storage s = services_[id];
        if (s.startReportSha256 != 0) v = ReportView(id, s.startReportSha256, s.startIndex, s.servingSince);
    }

    function subscription(uint64 id, bytes32 who) public view returns (SubscriptionView memory v) {
        Subscription storage s = subscriptions_[id][who];
        if (s.deposit == 0) return v;
        v = SubscriptionView(
            id, who, s.deposit, s.charged, s.requests, s.tokens, s.byteCount, s.createdAt, s.updatedAt, s.closed, s.refund
        );
    }

    /// The order's subscriptions, in account order.
    function subscriptions(uint64 id) external view returns (SubscriptionView[] memory list) {
        bytes32[] storage who = subscribers_[id];
        list = new SubscriptionView[](who.length);
        for (uint256 i = 0; i < list.length; ++i) {
            SubscriptionView memory v = subscription(id, who[i]);
            uint256 j = i;
            for (; j > 0 && list[j - 1].account > v.account; --j) list[j] = list[j - 1];
            list[j] = v;
        }
    }

    /// Grant `id` as counted for `owner`; exists when it was used under a
    /// limit or revoked (uses > 0 or revoked).
    function grant(bytes32 id, bytes32 owner) external view returns (GrantView memory v) {
        Grant storage g = grants_[keccak256(abi.encode(id, owner))];
        if (g.count != 0 || g.revoked) v = GrantView(id, owner, g.count, g.revoked, g.revokedAt);
    }

    /// Whether order `orderId` is recorded against grant (id, owner)'s limit.
    function grantUsedBy(bytes32 id, bytes32 owner, uint64 orderId) external view returns (bool) {
        return grantOrders_[keccak256(abi.encode(id, owner))][orderId];
    }

    // ===================================================================
    // calls of orders placed on a tee offer and of split services: here, not
    // in WardLedger, to keep each contract under EIP-170; they reach this
    // code through WardLedger's fallback (delegatecall: WardLedger's
    // storage, sender and events)
    // ===================================================================

    /// orders.take, sent by a CVM of the order's tee offer that has what it
    /// needs: the first take of a New order on an offer wins.
    function takeOrder(uint64 id) external {
        _checkAmount(id);
        bytes32 key = _sender();
        Order storage o = orders_[id];
        if (o.creator == address(0)) revert NotFound(E_ORDER, bytes32(uint256(id)));
        bytes32 cvmId = _cvmIdOf(key);
        Cvm storage c = cvms_[cvmId];
        if (c.cvmAddress == address(0)) revert NotAllowed(A_NOT_A_CVM, 0);
        if (o.flags & F_ON_OFFER == 0) revert NotAllowed(A_NOT_ON_OFFER, id);
        if (c.offer != o.teeOffer) revert NotAllowed(A_OTHER_OFFER, id);
        uint256 needs = orderNeeds_[id];
        if (needs != 0 && !_fits(cvmResources_[cvmId], needs)) revert NotAllowed(A_DOES_NOT_FIT, id);
        if (o.status != NEW) revert BadState(S_ORDER_STATUS, id, o.status);
        if (o.cvm != address(0)) revert BadState(S_TAKEN, id, 0);
        o.cvm = msg.sender;
        emit OrderTaken(id, cvmId, _record());
    }

    /// orders.reassign, sent by anyone: an order on an offer whose CVM sent
    /// no heartbeat for longer than the offer's timeout goes back to New;
    /// the time it ran there is billed up to that CVM's last heartbeat.
    function reassignOrder(uint64 id) external {
        _checkAmount(id);
        _sender();
        Order storage o = orders_[id];
        if (o.creator == address(0)) revert NotFound(E_ORDER, bytes32(uint256(id)));
        if (o.flags & F_ON_OFFER == 0) revert NotAllowed(A_NOT_ON_OFFER, id);
        uint8 status = o.status;
        if (o.cvm == address(0) || (status != NEW && status != PROCESSING)) {
            revert BadState(S_NOTHING_TO_REASSIGN, id, status);
        }
        bytes32 cvmId = _cvmIdOf(accountOf[o.cvm]);
        uint64 heartbeat = cvms_[cvmId].heartbeatAt;
        uint256 timeout = offerTimeouts_[o.teeOffer];
        if (timeout == 0) timeout = DEFAULT_CVM_TIMEOUT;
        uint256 silent = block.timestamp > heartbeat ? block.timestamp - heartbeat : 0;
        if (silent <= timeout) revert BadState(S_HEARTBEAT_RECENT, uint64(silent), uint64(timeout));
        if (status == PROCESSING && heartbeat > o.startedAt) {
            uint64 ran = heartbeat - o.startedAt;
            if (ran > MAX_AMOUNT - o.billed) revert Overflow(O_BILLED);
            o.billed += ran;
        }
        o.status = NEW;
        o.cvm = address(0);
        o.startedAt = 0;
        emit OrderReassigned(id, cvmId, o.billed, _record());
    }

    /// services.join, sent by a worker CVM of a Processing split service:
    /// where its tunnel listens (HOST:PORT); a worker that restarted joins
    /// again at its new endpoint.
    function joinService(uint64 id, string calldata endpoint) external {
        _checkAmount(id);
        _checkWorkerEndpoint(bytes(endpoint));
        bytes32 key = _sender();
        Order storage o = orders_[id];
        if (o.creator == address(0)) revert NotFound(E_ORDER, bytes32(uint256(id)));
        if (o.flags & F_SERVICE == 0) revert BadState(S_NOT_SERVICE, id, 0);
        bytes32 cvmId = _cvmIdOf(key);
        if (cvms_[cvmId].cvmAddress == address(0)) revert NotAllowed(A_NOT_A_CVM, 0);
        Worker[] storage workers = workers_[id];
        uint256 i = 0;
        while (i < workers.length && workers[i].cvm != cvmId) ++i;
        if (i == workers.length) revert NotAllowed(A_NOT_WORKER, id);
        if (o.status != PROCESSING) revert BadState(S_ORDER_STATUS, id, o.status);
        workers[i].endpoint = endpoint;
        workers[i].joinedAt = uint64(block.timestamp);
        emit ServiceJoined(id, cvmId, _record(), endpoint);
    }

    /// Whether declared resources `have` cover `need` (both packed, need present).
    function _fits(uint256 have, uint256 need) internal pure returns (bool) {
        if (have == 0) return false;
        for (uint256 shift = 0; shift < 192; shift += 64) {
            if (uint64(have >> shift) < uint64(need >> shift)) return false;
        }
        return true;
    }

    /// HOST:PORT as a worker's tunnel listens (src/ledger/tx.cpp, is_endpoint):
    /// 1..255 printable ASCII bytes without spaces, a host (an IPv6 one in
    /// brackets) and a port 1..65535 without leading zeros.
    function _checkWorkerEndpoint(bytes calldata e) internal pure {
        uint256 n = e.length;
        if (n == 0 || n > MAX_WORKER_ENDPOINT) revert Malformed(M_WORKER_ENDPOINT);
        uint256 colon = n;
        for (uint256 i = 0; i < n; ++i) {
            bytes1 c = e[i];
            if (c <= 0x20 || c >= 0x7f) revert Malformed(M_WORKER_ENDPOINT);
            if (c == ":") colon = i;
        }
        if (colon == n || colon == 0) revert Malformed(M_WORKER_ENDPOINT);
        if (e[0] == "[" && (colon < 3 || e[colon - 1] != "]")) revert Malformed(M_WORKER_ENDPOINT);
        uint256 digits = n - colon - 1;
        if (digits == 0 || digits > 5 || e[colon + 1] == "0") revert Malformed(M_WORKER_ENDPOINT);
        uint256 port = 0;
        for (uint256 i = colon + 1; i < n; ++i) {
            if (e[i] < "0" || e[i] > "9") revert Malformed(M_WORKER_ENDPOINT);
            port = port * 10 + uint8(e[i]) - 48;
        }
        if (port > 65535) revert Malformed(M_WORKER_ENDPOINT);
    }
}

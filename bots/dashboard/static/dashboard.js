// liveroom dashboard: live updates of the review queue (server-sent events from /events) and countdowns.
// Every viewer or knowledge string goes into the page with textContent, never innerHTML.
"use strict";

(function () {
  const body = document.body;
  const csrf = body.dataset.csrf || "";
  const skew = (Number(body.dataset.now) || Date.now() / 1000) - Date.now() / 1000; // server clock - ours

  function nowServer() { return Date.now() / 1000 + skew; }

  function formatLeft(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s left";
  }

  function tick() {
    for (const card of document.querySelectorAll("li.review[data-expires]")) {
      const left = card.querySelector("[data-left]");
      if (left) left.textContent = formatLeft(Number(card.dataset.expires) - nowServer());
    }
  }

  const queue = document.getElementById("queue");
  const template = document.getElementById("review-template");
  if (!queue || !template || !window.EventSource) {
    setInterval(tick, 1000);
    return;
  }
  const recent = document.getElementById("recent");
  const count = document.getElementById("pending-count");
  const empty = document.getElementById("queue-empty");
  const state = document.getElementById("live-state");

  function set(root, selector, text) {
    const el = root.querySelector(selector);
    if (el) el.textContent = text == null ? "" : String(text);
    return el;
  }

  function card(review) {
    const li = template.content.firstElementChild.cloneNode(true);
    li.id = "review-" + review.id;
    li.dataset.id = String(review.id);
    li.dataset.expires = String(review.expires_at);
    set(li, ".rid", "#" + review.id);
    set(li, ".room", review.room);
    const asker = set(li, ".asker", review.user_name);
    asker.href = "/viewers/" + encodeURIComponent(review.user_key).replace(/%3A/gi, ":");
    const others = (review.askers || []).length;
    set(li, ".more", others ? "+" + others + " asked the same" : "");
    const reasons = li.querySelector(".reasons");
    for (const reason of review.reasons || []) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = reason;
      reasons.appendChild(tag);
    }
    set(li, ".confidence", review.confidence == null ? "" : Math.round(review.confidence * 100) + "%");
    set(li, "[data-left]", formatLeft(review.expires_at - nowServer()));
    set(li, ".question", review.question);
    set(li, ".draft", review.draft || "(no draft: the bot abstained)");
    const sources = li.querySelector(".sources");
    for (const source of review.sources || []) {
      const item = document.createElement("li");
      item.textContent = (source.title || source.chunk_id || "") + " ";
      const small = document.createElement("small");
      small.textContent = source.source || "";
      item.appendChild(small);
      sources.appendChild(item);
    }
    for (const form of li.querySelectorAll("form[data-action]")) {
      form.action = "/reviews/" + encodeURIComponent(review.id) + "/" + form.dataset.action;
      form.querySelector("input[name=csrf]").value = csrf;
    }
    li.querySelector("textarea[name=text]").value = review.draft || "";
    return li;
  }

  function refreshCount() {
    const n = queue.querySelectorAll("li.review").length;
    if (count) count.textContent = String(n);
    if (empty) empty.hidden = n > 0;
  }

  function add(review) {
    if (document.getElementById("review-" + review.id)) return;
    queue.appendChild(card(review));
    refreshCount();
  }

  function remove(review) {
    const existing = document.getElementById("review-" + review.id);
    if (existing) existing.remove();
    if (recent) {
      const li = document.createElement("li");
      const tag = document.createElement("span");
      tag.className = "tag " + review.status;
      tag.textContent = review.status;
      li.appendChild(tag);
      li.appendChild(document.createTextNode(" #" + review.id + " " + review.question + " "));
      const small = document.createElement("small");
      small.textContent = review.decided_by_name || "";
      li.appendChild(small);
      recent.insertBefore(li, recent.firstChild);
      const none = document.getElementById("recent-empty");
      if (none) none.hidden = true;
    }
    refreshCount();
  }

  function reconcile(reviews) {
    // After a (re)connect: the server's list is the truth; keep cards being edited in place.
    const ids = new Set(reviews.map((r) => "review-" + r.id));
    for (const li of queue.querySelectorAll("li.review")) {
      if (!ids.has(li.id)) li.remove();
    }
    for (const review of reviews) add(review);
    refreshCount();
  }

  const source = new EventSource("/events");
  source.addEventListener("open", () => { if (state) state.textContent = "live"; body.dataset.live = "1"; });
  source.addEventListener("error", () => { if (state) state.textContent = "reconnecting…"; body.dataset.live = "0"; });
  source.addEventListener("snapshot", (e) => reconcile(JSON.parse(e.data).reviews || []));
  source.addEventListener("added", (e) => add(JSON.parse(e.data).review));
  source.addEventListener("decided", (e) => remove(JSON.parse(e.data).review));
  source.addEventListener("expired", (e) => remove(JSON.parse(e.data).review));
  setInterval(tick, 1000);
})();

/* Beacon chat widget loader. Embed with:
 *   <script src="{{ base_url|escapejs }}/widget/{{ public_id|escapejs }}.js" async></script>
 * Optional attributes: data-open="true", data-language="fr", data-user-id + data-user-hash (identity;
 * with data-user-expires, the hash signs "id:expires" and stops working then).
 * JS API: Beacon("open" | "close" | "toggle" | "new-conversation" | "destroy"), Beacon("language", "de"),
 *         Beacon("identify", {userId: "...", userHash: "...", userExpires: 1767225600}).
 * Several bots on one page: their launchers side by side, one Beacon() for all of them. A last argument
 * {bot: "<public id>"} (for identify, a `bot` in its object) picks one; without it, "close", "destroy" and
 * "language" reach every bot and the other calls the bot of the page's first tag (in document order).
 * No secret is in this file. The chat itself runs in an iframe served by Beacon. */
(function () {
  "use strict";
  var BASE = "{{ base_url|escapejs }}";
  var BOT = "{{ public_id|escapejs }}";
  // What the loaders of every bot on the page share: their widgets (by public id, in the order their tags ran),
  // the one window.Beacon, the calls the page made before any loader ran (`early`), calls for a bot whose loader has
  // not run yet (`pending`), and the functions of older loaders that set window.Beacon themselves (`legacy`, by bot).
  // Each loader used to replace window.Beacon, so calls reached the last bot only.
  // VERSION: a loader newer than the hub's puts its own dispatcher in (a browser may run a loader it cached, up to
  // the loader's max-age, beside a newer one); window.Beacon then stays that dispatcher whoever assigns it.
  var VERSION = 2;
  var hub = window.__beaconHub;
  if (!hub) hub = window.__beaconHub = { widgets: {}, order: [], pending: {}, early: null, api: null };
  if (!(hub.version >= VERSION)) {
    var previous = hub.api; // an older hub's dispatcher (the page may hold it as window.Beacon)
    hub.version = VERSION;
    hub.legacy = hub.legacy || {};
    hub.api = function () {
      var args = Array.prototype.slice.call(arguments);
      try {
        dispatch(hub, args);
      } catch (error) {
        if (window.console) window.console.warn("Beacon widget: " + error.message); // never thrown into the page
      }
    };
    var found = window.Beacon;
    if (hub.early === null) hub.early = [];
    guard(hub);
    if (found !== previous) adopt(hub, found, null);
  } else if (window.Beacon !== hub.api) {
    adopt(hub, window.Beacon, null); // (window.Beacon could not be guarded: the page declared it with var)
    window.Beacon = hub.api;
  }
  // The tag run again (a single-page app re-rendering the page and its tags): the widget already on the page is
  // put back if the page removed it, or drawn if it never could be; never a second one.
  if (hub.widgets[BOT]) {
    hub.widgets[BOT].revive();
    return;
  }

  // window.Beacon is the hub's dispatcher whoever assigns it: a page's stub put back (a re-render) has its queued calls
  // dispatched, and an older loader's own function (one that ignores {bot}) is kept for its bot (`legacy`).
  function guard(hub) {
    try {
      Object.defineProperty(window, "Beacon", {
        configurable: true,
        enumerable: true,
        get: function () {
          return hub.api;
        },
        set: function (value) {
          adopt(hub, value, document.currentScript);
        },
      });
    } catch (e) {
      window.Beacon = hub.api; // (a `var Beacon` of the page cannot be redefined: assigned, as before)
    }
  }

  // `value`, given to window.Beacon by `tag` (null: found there): a page's stub (its queued calls are dispatched, or
  // kept as `early` while no loader has run) or an older loader's function for the bot of its tag.
  function adopt(hub, value, tag) {
    if (typeof value !== "function" || value === hub.api) return;
    var queued = Array.prototype.slice.call(value.q || []);
    var bot = botOf(tag);
    if (!bot && !value.q && !tag) {
      // Found there: an older loader (one without a hub) that ran first, if one bot registered only there.
      var older = Object.keys(window.__beaconWidgets || {}).filter(function (id) {
        return !hub.widgets[id];
      });
      if (older.length === 1) bot = older[0];
    }
    if (bot && !value.q && !hub.widgets[bot]) {
      hub.legacy[bot] = value;
      var calls = (hub.pending[bot] || []).concat(
        (hub.early || []).filter(function (args) {
          return targetOf(args) === bot || (!targetOf(args) && (forEveryBot(args) || firstBot(hub) === bot));
        })
      );
      delete hub.pending[bot];
      calls.forEach(function (args) {
        value.apply(null, args);
      });
      return;
    }
    queued.forEach(function (args) {
      hub.api.apply(null, args);
    });
  }

  // The bot of a widget tag (script element), or null.
  function botOf(tag) {
    var match = tag && /\/widget\/([A-Za-z0-9_-]+)\.js(?:[?#]|$)/.exec(tag.src || "");
    return match ? match[1] : null;
  }

  // The bots of the page's widget tags, in document order (async tags run in the order their scripts arrive, which
  // changes from one page view to the next: the first tag is the first in the page, not the first to run).
  function tagBots() {
    var bots = [];
    var tags = document.querySelectorAll('script[src*="/widget/"]');
    for (var i = 0; i < tags.length; i++) {
      var bot = botOf(tags[i]);
      if (bot && bots.indexOf(bot) === -1) bots.push(bot);
    }
    return bots;
  }

  // The bot a call names: a last argument {bot: "<public id>"} (identify's own object may carry it).
  function targetOf(args) {
    var last = args[args.length - 1];
    return last && typeof last === "object" && typeof last.bot === "string" ? last.bot : null;
  }

  // "close", "destroy" and "language" without a bot reach every bot; the other calls the first bot, as with one bot.
  function forEveryBot(args) {
    return args[0] === "close" || args[0] === "destroy" || args[0] === "language";
  }

  // The widgets in the order of their tags in the page, then (tags no longer in the page) the order the tags ran: a
  // total order (it compared the positions of connected tags and the run order of the others, which is not one).
  function ordered(hub) {
    var tags = tagBots();
    function rank(widget) {
      var at = tags.indexOf(widget.bot);
      return at === -1 ? tags.length : at;
    }
    return hub.order
      .map(function (id) {
        return hub.widgets[id];
      })
      .sort(function (a, b) {
        return rank(a) - rank(b) || hub.order.indexOf(a.bot) - hub.order.indexOf(b.bot);
      });
  }

  // The bot of the page's first tag (whether its loader has run or not); without tags, the first widget.
  function firstBot(hub) {
    var tags = tagBots();
    if (tags.length) return tags[0];
    var first = ordered(hub)[0];
    return first ? first.bot : null;
  }

  // The launchers of the bots drawn on each side, side by side in the order of their tags (each was at the same
  // spot, one hiding the other).
  function layout(hub) {
    var slots = {};
    ordered(hub).forEach(function (widget) {
      var side = widget.side();
      if (!side) return; // not drawn yet
      slots[side] = (slots[side] || 0) + 1;
      widget.place(20 + (slots[side] - 1) * 68);
    });
  }

  // A call for `bot`: its widget, an older loader's function (without the {bot} it ignores), or kept until its loader
  // runs. False when kept.
  function deliver(hub, bot, args) {
    if (hub.widgets[bot]) {
      hub.widgets[bot].command(args);
      return true;
    }
    if (hub.legacy[bot]) {
      var last = args[args.length - 1];
      var plain = args[0] !== "identify" && last && typeof last === "object" && targetOf(args);
      hub.legacy[bot].apply(null, plain ? args.slice(0, -1) : args);
      return true;
    }
    (hub.pending[bot] = hub.pending[bot] || []).push(args);
    return false;
  }

  // (Shared by every loader's copy: it uses nothing of this loader but the hub it is given.)
  function dispatch(hub, args) {
    var target = targetOf(args);
    if (target) {
      if (deliver(hub, target, args) || tagBots().indexOf(target) !== -1) return; // (its loader has yet to run)
      if (window.console) window.console.warn("Beacon widget: no tag of the bot " + target + " on this page.");
    } else if (forEveryBot(args)) {
      hub.order.forEach(function (id) {
        hub.widgets[id].command(args);
      });
      Object.keys(hub.legacy).forEach(function (id) {
        hub.legacy[id].apply(null, args);
      });
      hub.early.push(args); // and the loaders still to run
    } else {
      // The first tag's bot, once its loader has run: an early Beacon("identify") reached the second tag's bot when
      // that script arrived first (its identity secret differs: 401 for the visit, and the user id went to it).
      var first = firstBot(hub);
      if (first) deliver(hub, first, args);
    }
  }

  var script = document.currentScript || document.querySelector('script[src*="/widget/' + BOT + '.js"]');
  var data = (script && script.dataset) || {};
  var STORE = "beacon:" + BOT + ":visitor";
  var state = {
    open: false,
    frameReady: false,
    token: null,
    config: null,
    lang: data.language || document.documentElement.lang || "en",
    identity: data.userId ? identity(data.userId, data.userHash, data.userExpires) : null,
    wantOpen: data.open === "true",
  };
  var ui = null;
  var starting = false;
  // The launcher's label in the chat's language (the frame has its own strings): [open, close].
  var LABELS = {
    en: ["Open chat: ", "Close chat: "],
    fr: ["Ouvrir le chat : ", "Fermer le chat : "],
    de: ["Chat öffnen: ", "Chat schließen: "],
    es: ["Abrir el chat: ", "Cerrar el chat: "],
    nl: ["Chat openen: ", "Chat sluiten: "],
  };

  function label(open) {
    var words = LABELS[String(state.lang || "en").split("-")[0].toLowerCase()] || LABELS.en;
    return words[open ? 1 : 0] + state.config.title;
  }
  var startAttempts = 0; // after a rate limit (429)
  var startFailures = 0; // after a network failure or a 5xx (never reset: a tag run again tries once more)
  var startTimer = null;
  var destroyed = false; // Beacon("destroy"): not drawn again until Beacon("open" | "toggle") or the tag runs again
  // Waits after a 5xx Beacon answered (a restart, a proxy without its upstream): a brief outage at page load used to
  // leave the page without its chat for the whole visit. Eight tries over about four minutes, each wait 0-50 % longer
  // at random (the pages of one outage do not all come back at the same second); a page that comes back online tries at
  // once. A request that got no readable answer at all is tried only OPAQUE_TRIES more times: the browser does not tell
  // a network failure from a refused CORS preflight (a site not on the bot's allowed origins), and those made nine
  // requests per bot and page view. (A browser that knows it is offline waits for the 'online' event instead.)
  var BACKOFF = [2, 4, 8, 16, 32, 60, 60, 60];
  var OPAQUE_TRIES = 2;

  function identity(userId, userHash, userExpires) {
    var pair = { user_id: String(userId), user_hash: String(userHash || "") };
    if (userExpires) pair.user_expires = parseInt(userExpires, 10);
    return pair;
  }

  function stored() {
    try {
      return window.localStorage.getItem(STORE);
    } catch (e) {
      return null;
    }
  }

  function store(token) {
    try {
      window.localStorage.setItem(STORE, token);
    } catch (e) {
      /* storage disabled: the conversation lasts as long as the page */
    }
  }

  function session() {
    var body = { visitor_token: stored() };
    if (state.identity) {
      body.user_id = state.identity.user_id;
      body.user_hash = state.identity.user_hash;
      if (state.identity.user_expires) body.user_expires = state.identity.user_expires;
    }
    return fetch(BASE + "/widget/" + BOT + "/session/", {
      method: "POST",
      mode: "cors",
      // Cookies only reach Beacon from its own preview page (same origin), never from a host site.
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) {
        // (A site not on the bot's allowed origins never gets here: its preflight is refused, below.)
        var refused = function (message) {
          var error = new Error(message);
          error.status = response.status;
          error.retryAfter = parseInt(response.headers.get("Retry-After"), 10) || 0;
          error.transient = response.status >= 500; // a server restarting, a proxy without its upstream
          throw error;
        };
        return response.json().then(
          function (e) {
            refused((e && e.error && e.error.message) || "HTTP " + response.status);
          },
          function () {
            refused("HTTP " + response.status);
          }
        );
      }
      return response.json();
    }, function () {
      var error = new Error(
        "no answer from " + BASE + ": Beacon is unreachable, or " + window.location.origin +
          " is not on this bot's allowed origins"
      );
      error.transient = true;
      error.opaque = true; // (a browser does not tell a refused CORS preflight from a network failure)
      return Promise.reject(error);
    });
  }

  var ICONS = {
    chat: "M4 4h16v12H7l-3 3V4z",
    help: "M12 2a10 10 0 100 20 10 10 0 000-20zm1 15h-2v-2h2v2zm1.1-6.3l-.9.9c-.7.7-1.2 1.3-1.2 2.4h-2v-.5c0-1.1.5-2.1 1.2-2.8l1.2-1.3a2 2 0 10-3.4-1.4H7a4 4 0 118 0c0 .9-.4 1.7-.9 2.7z",
    sparkle: "M12 2l2.2 6.8L21 11l-6.8 2.2L12 20l-2.2-6.8L3 11l6.8-2.2z",
  };

  // White, or dark on a light colour where white would not show: white's contrast under 3:1 (WCAG's minimum for
  // large text and icons; relative luminance), as in the chat panel.
  function onColor(hex) {
    function luminance(value) {
      return [1, 3, 5].reduce(function (sum, at, i) {
        var c = parseInt(value.slice(at, at + 2), 16) / 255;
        c = c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
        return sum + c * [0.2126, 0.7152, 0.0722][i];
      }, 0);
    }
    return 1.05 / (luminance(hex) + 0.05) < 3 ? "#111827" : "#fff";
  }

  // Phones, upright or on their side (a 667x375 landscape phone had a 380x267 panel, 131 px for the conversation):
  // the open chat fills the screen.
  var FULL_SCREEN = "(max-width:480px),(max-height:480px)";

  // The host page does not scroll behind a full-screen chat (the page's own inline overflow is put back on close,
  // unless the page changed it meanwhile). Shared by the bots of the page: one chat is open at a time. Only while the
  // widget's element is in the page: a page that removes it (a single-page app re-rendering) gets its scrolling back
  // at once (a MutationObserver, only while the scroll is held), and a later resize does not take it again.
  var scrollWatch = null;
  function holdScroll(hold) {
    hold = hold && !!ui && ui.host.isConnected;
    var styles = [document.documentElement.style, document.body && document.body.style];
    if (hold && !hub.scroll) {
      hub.scroll = { bot: BOT, was: styles.map(function (style) {
        return style && style.overflow;
      }) };
      styles.forEach(function (style) {
        if (style) style.overflow = "hidden";
      });
      if (window.MutationObserver && !scrollWatch) {
        scrollWatch = new window.MutationObserver(function () {
          if (!ui.host.isConnected) holdScroll(false);
        });
        scrollWatch.observe(document.documentElement, { childList: true, subtree: true });
      }
    } else if (!hold && hub.scroll && hub.scroll.bot === BOT) {
      styles.forEach(function (style, i) {
        if (style && style.overflow === "hidden") style.overflow = hub.scroll.was[i] || "";
      });
      hub.scroll = null;
    }
    if (scrollWatch && !(hub.scroll && hub.scroll.bot === BOT)) {
      scrollWatch.disconnect();
      scrollWatch = null;
    }
  }

  function fullScreen() {
    return !!(window.matchMedia && window.matchMedia(FULL_SCREEN).matches);
  }

  function build(config) {
    var host = document.createElement("div");
    host.setAttribute("data-beacon-widget", BOT);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var side = config.position === "left" ? "left" : "right";
    var css =
      ":host{all:initial}" +
      ".launcher{position:fixed;bottom:20px;" + side + ":20px;width:56px;height:56px;border-radius:50%;border:0;" +
      "cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;display:flex;align-items:center;" +
      "justify-content:center;padding:0}" +
      ".launcher:focus-visible{outline:3px solid #111;outline-offset:3px}" +
      ".launcher svg{width:28px;height:28px;fill:currentColor}" +
      ".panel{position:fixed;bottom:88px;" + side + ":20px;width:380px;height:600px;max-height:calc(100vh - 108px);" +
      "border-radius:14px;overflow:hidden;box-shadow:0 10px 40px rgba(0,0,0,.3);z-index:2147483001;background:#fff;" +
      "display:none}" +
      ".panel.open{display:block}" +
      ".panel iframe{border:0;width:100%;height:100%;display:block}" +
      "@media " + FULL_SCREEN + "{.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0;bottom:0;" +
      side + ":0}.panel.open~.launcher,.launcher.hidden{display:none}}";
    var panel = document.createElement("div");
    panel.className = "panel";
    panel.id = "beacon-panel-" + BOT;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", config.title);
    var frame = document.createElement("iframe");
    frame.title = config.title;
    frame.src = BASE + "/widget/" + BOT + "/frame/?lang=" + encodeURIComponent(state.lang);
    frame.setAttribute("allow", "clipboard-write");
    panel.appendChild(frame);
    var launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "launcher";
    var color = /^#[0-9a-fA-F]{6}$/.test(config.color) ? config.color : "#2563eb";
    launcher.style.background = color;
    launcher.style.color = onColor(color);
    launcher.setAttribute("aria-label", label(false));
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", panel.id);
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[config.icon] || ICONS.chat);
    svg.appendChild(path);
    launcher.appendChild(svg);
    launcher.addEventListener("click", function () {
      setOpen(!state.open, true);
    });
    // A constructed style sheet where the browser has them: a host page whose Content-Security-Policy has no
    // 'unsafe-inline' style-src refuses a <style> element, which left the chat panel always open in the page's flow
    // and the launcher an unstyled button; adopted style sheets are not inline styles.
    if ("adoptedStyleSheets" in root && window.CSSStyleSheet && "replaceSync" in window.CSSStyleSheet.prototype) {
      var sheet = new window.CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } else {
      var style = document.createElement("style");
      style.textContent = css;
      root.appendChild(style);
    }
    root.appendChild(panel);
    root.appendChild(launcher);
    if (!destroyed) document.body.appendChild(host);
    return { host: host, panel: panel, frame: frame, launcher: launcher, side: side };
  }

  function post(message) {
    var target = ui && state.frameReady && ui.frame.contentWindow;
    if (target) target.postMessage(message, BASE);
  }

  // The widget's element put back when the host page removed it (a single-page app re-rendering document.body): its
  // frame loads again (and says when it is ready), the conversation is restored, the panel stays open or closed.
  function attach() {
    destroyed = false;
    if (!ui || ui.host.isConnected) return;
    state.frameReady = false;
    (document.body || document.documentElement).appendChild(ui.host);
    holdScroll(state.open && fullScreen());
  }

  // Beacon("destroy"): the widget's element leaves the page (its chat closed, the page's scrolling back) until
  // Beacon("open" | "toggle") or the tag run again puts it back.
  function destroy() {
    destroyed = true;
    state.wantOpen = false;
    if (!ui) return;
    setOpen(false, false);
    ui.host.remove();
  }

  function sendInit() {
    post({ type: "beacon:init", token: state.token, visitor: state.visitor, lang: state.lang });
  }

  // Focus goes into the chat only when the visitor opened it (the launcher, or Beacon("open") from their click): a
  // chat opened by the page (data-open, a call at load) must not take the focus, or the keyboard, from the page. On
  // close it goes back to the launcher only from inside the chat or the launcher, never from elsewhere on the page.
  function setOpen(open, focus) {
    if (!ui) {
      state.wantOpen = open;
      state.wantFocus = open && focus;
      return;
    }
    var inside = document.activeElement === ui.host;
    if (open) {
      // One chat open at a time: the panels of several bots take the same place.
      hub.order.forEach(function (id) {
        if (id !== BOT) hub.widgets[id].setOpen(false, false);
      });
    }
    state.open = open;
    state.focusOnReady = open && focus;
    ui.panel.classList.toggle("open", open);
    holdScroll(open && fullScreen());
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    ui.launcher.setAttribute("aria-label", label(open));
    if (open && focus) {
      ui.frame.focus();
      post({ type: "beacon:focus" });
    } else if (!open && inside) {
      ui.launcher.focus();
    }
  }

  // A call from the visitor's own click or key (transient user activation), not from the page's script on its own.
  function byVisitor() {
    return !starting && (!navigator.userActivation || navigator.userActivation.isActive);
  }

  function refresh() {
    return session().then(function (result) {
      state.token = result.token;
      state.visitor = result.visitor_id;
      store(result.token);
      sendInit();
    });
  }

  // Only "open" and "toggle" put back a widget the page removed (any call did, even one the page made after removing
  // it on purpose).
  function command(args) {
    var name = args[0];
    if (name === "open" || name === "toggle") attach();
    if (name === "destroy") destroy();
    else if (name === "open") setOpen(true, byVisitor());
    else if (name === "close") setOpen(false, byVisitor());
    else if (name === "toggle") setOpen(!state.open, byVisitor());
    else if (name === "new-conversation") post({ type: "beacon:new-conversation" });
    else if (name === "language" && typeof args[1] === "string") {
      state.lang = args[1];
      post({ type: "beacon:language", lang: state.lang });
      if (ui) ui.launcher.setAttribute("aria-label", label(state.open));
    } else if (name === "identify" && args[1] && args[1].userId) {
      state.identity = identity(args[1].userId, args[1].userHash, args[1].userExpires);
      if (ui) refresh()["catch"](warn);
    }
  }

  function warn(error) {
    if (window.console) window.console.warn("Beacon widget: " + error.message);
  }

  window.addEventListener("message", function (event) {
    if (!ui || event.source !== ui.frame.contentWindow || event.origin !== BASE) return;
    var message = event.data || {};
    if (message.type === "beacon:ready") {
      state.frameReady = true;
      sendInit();
      if (state.open && state.focusOnReady) post({ type: "beacon:focus" });
    } else if (message.type === "beacon:close") {
      setOpen(false, true);
    } else if (message.type === "beacon:token-expired") {
      refresh()["catch"](function (error) {
        warn(error);
        post({ type: "beacon:session-failed" }); // the question waiting for the token says so, with a retry
      });
    }
  });

  // Escape on the launcher closes the chat (inside the chat, the frame asks for it). Escape anywhere else on the host
  // page is the page's own business (closing its menu, clearing its search box): it must not move focus away.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && state.open && ui && document.activeElement === ui.host) setOpen(false, true);
  });

  var phase = "starting"; // then "drawn", "waiting" (to ask again) or "failed" (for this page view)

  function start() {
    clearTimeout(startTimer);
    phase = "starting";
    session().then(function (result) {
      phase = "drawn";
      state.token = result.token;
      state.visitor = result.visitor_id;
      state.config = result.config;
      store(result.token);
      ui = build(result.config);
      layout(hub);
      if (state.wantOpen) setOpen(true, state.wantFocus);
    }, function (error) {
      // Tokens are rate-limited per address (many visitors behind one office or mobile network): try again when
      // Beacon says, a few times, rather than leave the page without its chat for good. A network failure or a 5xx:
      // again after BACKOFF (or the 503's Retry-After).
      var wait = null;
      if (error.status === 429) {
        if (error.retryAfter && startAttempts++ < 3) wait = error.retryAfter;
      } else if (error.opaque && navigator.onLine === false) {
        warn(new Error(error.message + "; trying again when the browser is back online"));
        phase = "offline";
        return;
      } else if (error.transient && startFailures < (error.opaque ? OPAQUE_TRIES : BACKOFF.length)) {
        wait = error.retryAfter || BACKOFF[startFailures] * (1 + Math.random() / 2);
        startFailures += 1;
      }
      if (wait === null) {
        warn(error);
        phase = "failed";
        return;
      }
      wait = Math.round(Math.min(wait, 120) * 10) / 10;
      warn(new Error(error.message + "; trying again in " + wait + " s"));
      phase = "waiting";
      startTimer = setTimeout(start, wait * 1000);
    });
  }

  // A phone turned, a window resized: the page scrolls again once the open chat no longer fills the screen.
  window.addEventListener("resize", function () {
    if (ui) holdScroll(state.open && fullScreen()); // (not while the widget's element is out of the page)
  });

  window.addEventListener("online", function () {
    // The network is back: no need to wait for the timer.
    if (phase === "offline" || (phase === "waiting" && startFailures)) start();
  });

  var widget = (hub.widgets[BOT] = {
    bot: BOT,
    script: script,
    side: function () {
      return ui && ui.side;
    },
    place: function (offset) {
      ui.launcher.style.setProperty(ui.side, offset + "px"); // (a CSSOM style: no inline style for the page's CSP)
    },
    command: function (args) {
      try {
        command(args);
      } catch (error) {
        warn(error);
      }
    },
    setOpen: function (open, focus) {
      if (open !== state.open || !ui) setOpen(open, focus);
    },
    revive: function () {
      destroyed = false;
      attach();
      if (phase === "failed") start(); // once: its counters are not reset (a re-render loop made nine requests each)
    },
  });
  hub.order.push(BOT);
  // The calls the page made before any loader ran, and those since for this bot: the page's, at load (no focus).
  starting = true;
  hub.early.forEach(function (args) {
    var target = targetOf(args);
    if (target ? target === BOT : forEveryBot(args) || firstBot(hub) === BOT) widget.command(args);
  });
  (hub.pending[BOT] || []).forEach(widget.command);
  delete hub.pending[BOT];
  starting = false;

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* Beacon chat widget loader. Embed with:
 *   <script src="{{ base_url|escapejs }}/widget/{{ public_id|escapejs }}.js" async></script>
 * Optional attributes: data-open="true", data-language="fr", data-user-id + data-user-hash (identity;
 * with data-user-expires, the hash signs "id:expires" and stops working then).
 * JS API: Beacon("open" | "close" | "toggle" | "new-conversation"), Beacon("language", "de"),
 *         Beacon("identify", {userId: "...", userHash: "...", userExpires: 1767225600}).
 * Several bots on one page: their launchers side by side, one Beacon() for all of them. A last argument
 * {bot: "<public id>"} (for identify, a `bot` in its object) picks one; without it, "close" and "language" reach
 * every bot and the other calls the bot of the page's first tag.
 * No secret is in this file. The chat itself runs in an iframe served by Beacon. */
(function () {
  "use strict";
  var BASE = "{{ base_url|escapejs }}";
  var BOT = "{{ public_id|escapejs }}";
  // What the loaders of every bot on the page share: their widgets (by public id, in the order their tags ran),
  // the one window.Beacon, the calls the page made before any loader ran (`early`), and calls for a bot whose tag
  // has not run yet (`pending`). Each loader used to replace window.Beacon, so calls reached the last bot only.
  var hub = window.__beaconHub;
  if (!hub) {
    hub = window.__beaconHub = { widgets: {}, order: [], pending: {}, early: null, api: null };
    hub.api = function () {
      var args = Array.prototype.slice.call(arguments);
      try {
        dispatch(hub, args);
      } catch (error) {
        if (window.console) window.console.warn("Beacon widget: " + error.message); // never thrown into the page
      }
    };
  }
  if (window.Beacon !== hub.api) {
    // The page's stub (or one a re-render put back): its queued calls, then the one dispatcher.
    var queued = Array.prototype.slice.call((window.Beacon && window.Beacon.q) || []);
    window.Beacon = hub.api;
    if (hub.early === null) hub.early = queued;
    else queued.forEach(function (args) {
      hub.api.apply(null, args);
    });
  }
  // The tag run again (a single-page app re-rendering the page and its tags): the widget already on the page is
  // put back if the page removed it, or drawn if it never could be; never a second one.
  if (hub.widgets[BOT]) {
    hub.widgets[BOT].revive();
    return;
  }

  // The bot a call names: a last argument {bot: "<public id>"} (identify's own object may carry it).
  function targetOf(args) {
    var last = args[args.length - 1];
    return last && typeof last === "object" && typeof last.bot === "string" ? last.bot : null;
  }

  // "close" and "language" without a bot reach every bot; the other calls the first bot, as with one bot.
  function forEveryBot(args) {
    return args[0] === "close" || args[0] === "language";
  }

  // The widgets in the order of their tags in the page (the order the tags ran, for a tag no longer in the page):
  // async tags run in the order their scripts arrive, which changes from one page view to the next.
  function ordered(hub) {
    return hub.order
      .map(function (id) {
        return hub.widgets[id];
      })
      .sort(function (a, b) {
        if (a.script && b.script && a.script.isConnected && b.script.isConnected && a.script !== b.script) {
          return a.script.compareDocumentPosition(b.script) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
        }
        return hub.order.indexOf(a.bot) - hub.order.indexOf(b.bot);
      });
  }

  function firstWidget(hub) {
    return ordered(hub)[0] || null;
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

  // (Shared by every loader's copy: it uses nothing of this loader but the hub it is given.)
  function dispatch(hub, args) {
    var target = targetOf(args);
    if (target) {
      if (hub.widgets[target]) return hub.widgets[target].command(args);
      (hub.pending[target] = hub.pending[target] || []).push(args); // its tag has not run yet, or will not:
      var tags = document.getElementsByTagName("script");
      for (var i = 0; i < tags.length; i++) if ((tags[i].src || "").indexOf("/widget/" + target + ".js") !== -1) return;
      if (window.console) window.console.warn("Beacon widget: no tag of the bot " + target + " on this page.");
    } else if (forEveryBot(args)) {
      hub.order.forEach(function (id) {
        hub.widgets[id].command(args);
      });
    } else if (firstWidget(hub)) {
      firstWidget(hub).command(args);
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
  var startFailures = 0; // after a network failure or a 5xx
  var startTimer = null;
  // Waits after a network failure or a 5xx: a brief outage at page load used to leave the page without its chat for
  // the whole visit. Eight tries over about four minutes; a page that comes back online tries at once.
  var BACKOFF = [2, 4, 8, 16, 32, 60, 60, 60];

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
      error.transient = true; // (a browser does not tell a refused CORS preflight from a network failure)
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
  // unless the page changed it meanwhile). Shared by the bots of the page: one chat is open at a time.
  function holdScroll(hold) {
    var styles = [document.documentElement.style, document.body && document.body.style];
    if (hold && !hub.scroll) {
      hub.scroll = { bot: BOT, was: styles.map(function (style) {
        return style && style.overflow;
      }) };
      styles.forEach(function (style) {
        if (style) style.overflow = "hidden";
      });
    } else if (!hold && hub.scroll && hub.scroll.bot === BOT) {
      styles.forEach(function (style, i) {
        if (style && style.overflow === "hidden") style.overflow = hub.scroll.was[i] || "";
      });
      hub.scroll = null;
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
    document.body.appendChild(host);
    return { host: host, panel: panel, frame: frame, launcher: launcher, side: side };
  }

  function post(message) {
    var target = ui && state.frameReady && ui.frame.contentWindow;
    if (target) target.postMessage(message, BASE);
  }

  // The widget's element put back when the host page removed it (a single-page app re-rendering document.body): its
  // frame loads again (and says when it is ready), the conversation is restored, the panel stays open or closed.
  function attach() {
    if (!ui || ui.host.isConnected) return;
    state.frameReady = false;
    (document.body || document.documentElement).appendChild(ui.host);
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

  function command(args) {
    attach();
    var name = args[0];
    if (name === "open") setOpen(true, byVisitor());
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
      } else if (error.transient && startFailures < BACKOFF.length) {
        wait = error.retryAfter || BACKOFF[startFailures];
        startFailures += 1;
      }
      if (wait === null) {
        warn(error);
        phase = "failed";
        return;
      }
      wait = Math.min(wait, 120);
      warn(new Error(error.message + "; trying again in " + wait + " s"));
      phase = "waiting";
      startTimer = setTimeout(start, wait * 1000);
    });
  }

  // A phone turned, a window resized: the page scrolls again once the open chat no longer fills the screen.
  window.addEventListener("resize", function () {
    if (ui) holdScroll(state.open && fullScreen());
  });

  window.addEventListener("online", function () {
    if (phase === "waiting" && startFailures) start(); // the network is back: no need to wait for the timer
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
      attach();
      if (phase === "failed") {
        startAttempts = startFailures = 0;
        start();
      }
    },
  });
  hub.order.push(BOT);
  // The calls the page made before any loader ran, and those since for this bot: the page's, at load (no focus).
  starting = true;
  hub.early.forEach(function (args) {
    var target = targetOf(args);
    if (target ? target === BOT : forEveryBot(args) || firstWidget(hub) === widget) widget.command(args);
  });
  (hub.pending[BOT] || []).forEach(widget.command);
  delete hub.pending[BOT];
  starting = false;

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// shoal visualizer: draws the snapshots the manager streams on /ui/events.
// Plain browser JavaScript, no build step. Read-only: the page has no actions.
// Every value from the cluster goes into the page through textContent, never as HTML.
'use strict';

(function () {
  /** Reconnect this long after the stream closed for good (a 404 from a node that stopped being a manager). */
  var RECONNECT_MS = 2000;
  /** Ages on the cards are redrawn this often. */
  var AGE_REFRESH_MS = 10000;
  var STARTING = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting'];
  var FAILED = ['failed', 'rejected', 'orphaned'];
  var UPDATE_LABEL = {
    updating: 'updating',
    paused: 'update paused',
    completed: 'updated',
    rollback_started: 'rolling back',
    rollback_paused: 'rollback paused',
    rollback_completed: 'rolled back',
  };

  var snapshot = null;
  var snapshots = 0;
  var showHistory = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function shortId(id) {
    return id.slice(0, 12);
  }

  function age(since) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
    if (!isFinite(s)) return '';
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 86400) return Math.floor(s / 3600) + 'h';
    return Math.floor(s / 86400) + 'd';
  }

  /** The card's look: running, starting, stopping, failed or stopped. */
  function taskKind(task) {
    if (FAILED.indexOf(task.state) >= 0) return 'failed';
    if (task.state === 'complete' || task.state === 'shutdown' || task.state === 'remove') return 'stopped';
    if (task.desiredState !== 'running' && task.desiredState !== 'ready') return 'stopping';
    if (STARTING.indexOf(task.state) >= 0) return 'starting';
    return 'running';
  }

  function stateText(task) {
    var kind = taskKind(task);
    if (kind === 'failed' && task.exitCode !== undefined) return task.state + ' (exit ' + task.exitCode + ')';
    if (kind === 'stopping') return 'stopping';
    if (task.state === 'running' && task.health && task.health !== 'healthy') return 'running, ' + task.health;
    return task.state;
  }

  function updateText(u) {
    var label = UPDATE_LABEL[u.state] || u.state;
    if (u.state === 'completed' || u.state === 'rollback_completed') return label;
    return label + ' ' + u.done + '/' + u.total;
  }

  function updating(u) {
    return !!u && u.state !== 'completed' && u.state !== 'rollback_completed';
  }

  function renderService(s) {
    var item = el('div', 'svc');
    item.dataset.service = s.name;
    item.style.setProperty('--hue', s.hue);
    item.appendChild(el('span', 'svc__swatch'));
    item.appendChild(el('span', 'svc__name', s.name));
    item.appendChild(el('span', 'svc__count', s.replicas === null ? s.running + ' (global)' : s.running + '/' + s.replicas));
    if (s.update) {
      var badge = el('span', 'svc__update' + (updating(s.update) ? ' svc__update--active' : ''), updateText(s.update));
      badge.dataset.updateState = s.update.state;
      if (s.update.message) badge.title = s.update.message;
      if (updating(s.update) && s.update.total > 0) {
        var bar = el('span', 'svc__progress');
        var fill = el('span', 'svc__fill');
        fill.style.width = Math.round((100 * s.update.done) / s.update.total) + '%';
        bar.appendChild(fill);
        badge.appendChild(bar);
      }
      item.appendChild(badge);
    }
    return item;
  }

  function renderTask(task, service) {
    var kind = taskKind(task);
    var card = el('div', 'task task--' + kind);
    card.dataset.taskId = task.id;
    card.dataset.service = task.serviceName;
    card.dataset.state = task.state;
    card.dataset.desiredState = task.desiredState;
    card.style.setProperty('--hue', service ? service.hue : 0);
    card.title = task.serviceName + '.' + task.slot + ' ' + task.id + '\n' + task.state + ' since ' + task.since;
    var head = el('div', 'task__head');
    head.appendChild(el('span', 'task__name', task.slot > 0 ? task.serviceName + '.' + task.slot : task.serviceName));
    if (service && updating(service.update) && task.current && !task.upToDate) head.appendChild(el('span', 'task__old', 'old'));
    card.appendChild(head);
    var meta = el('div', 'task__meta');
    meta.appendChild(el('span', 'task__state', stateText(task)));
    meta.appendChild(el('span', 'task__age', age(task.since)));
    card.appendChild(meta);
    card.appendChild(el('div', 'task__id', shortId(task.id)));
    return card;
  }

  function renderNode(node, tasks, services) {
    var col = el('section', 'node node--' + node.state + ' node--' + node.availability);
    // The column of tasks no node runs yet has no node id: selectors for nodes use [data-node-id].
    if (node.id) col.dataset.nodeId = node.id;
    else col.dataset.unassigned = 'true';
    col.dataset.hostname = node.hostname;
    col.dataset.availability = node.availability;
    col.dataset.state = node.state;
    var head = el('header', 'node__head');
    var title = el('div', 'node__title');
    title.appendChild(el('span', 'node__dot'));
    title.appendChild(el('span', 'node__name', node.hostname));
    head.appendChild(title);
    var badges = el('div', 'node__badges');
    badges.appendChild(el('span', 'badge badge--' + node.role, node.role));
    badges.appendChild(el('span', 'badge badge--' + node.availability, node.availability));
    badges.appendChild(el('span', 'badge badge--' + node.state, node.state));
    head.appendChild(badges);
    head.appendChild(el('div', 'node__id', shortId(node.id) + (node.address ? ' · ' + node.address : '')));
    col.appendChild(head);
    var list = el('div', 'node__tasks');
    tasks.forEach(function (t) {
      list.appendChild(renderTask(t, services[t.serviceId]));
    });
    if (tasks.length === 0) list.appendChild(el('div', 'node__empty', node.availability === 'drain' ? 'drained' : 'no tasks'));
    col.appendChild(list);
    return col;
  }

  function render() {
    if (!snapshot) return;
    var services = {};
    snapshot.services.forEach(function (s) {
      services[s.id] = s;
    });
    var byNode = {};
    var known = {};
    snapshot.nodes.forEach(function (n) {
      byNode[n.id] = [];
      known[n.id] = true;
    });
    var unassigned = [];
    var shown = 0;
    snapshot.tasks.forEach(function (t) {
      if (!t.current && !showHistory) return;
      shown++;
      if (t.nodeId && known[t.nodeId]) byNode[t.nodeId].push(t);
      else unassigned.push(t);
    });

    var legend = document.getElementById('services');
    legend.replaceChildren();
    snapshot.services.forEach(function (s) {
      legend.appendChild(renderService(s));
    });
    if (snapshot.services.length === 0) legend.appendChild(el('span', 'legend__empty', 'no services'));

    var nodes = document.getElementById('nodes');
    nodes.replaceChildren();
    snapshot.nodes.forEach(function (n) {
      nodes.appendChild(renderNode(n, byNode[n.id], services));
    });
    if (unassigned.length > 0) {
      nodes.appendChild(
        renderNode({ id: '', hostname: 'unassigned', role: 'pending', availability: 'none', state: 'pending', address: '' }, unassigned, services),
      );
    }

    var ready = snapshot.nodes.filter(function (n) {
      return n.state === 'ready';
    }).length;
    var running = snapshot.tasks.filter(function (t) {
      return t.current && t.state === 'running';
    }).length;
    document.getElementById('summary').textContent =
      snapshot.nodes.length + ' nodes (' + ready + ' ready) · ' + snapshot.services.length + ' services · ' + running + ' running tasks' + (showHistory ? ' · ' + shown + ' shown' : '');
    document.body.dataset.snapshots = String(snapshots);
  }

  function setStatus(kind, text) {
    var s = document.getElementById('status');
    s.className = 'status status--' + kind;
    s.textContent = text;
    document.body.dataset.connection = kind;
  }

  function connect() {
    var source = new EventSource('events');
    source.addEventListener('snapshot', function (e) {
      snapshot = JSON.parse(e.data);
      snapshots++;
      setStatus('live', 'live');
      render();
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        setStatus('down', 'disconnected, retrying');
        setTimeout(connect, RECONNECT_MS);
      } else {
        setStatus('connecting', 'reconnecting…');
      }
    };
  }

  document.getElementById('history').addEventListener('change', function (e) {
    showHistory = e.target.checked;
    render();
  });
  setInterval(render, AGE_REFRESH_MS);
  connect();
})();

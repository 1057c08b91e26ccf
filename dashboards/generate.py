#!/usr/bin/env python3
# Writes lvsd-overview.json and lvsd-realserver.json (Grafana, provisioning-ready). The JSON is
# what ships; edit here and run `python3 dashboards/generate.py` so both stay in step.
# test/unit/dashboards.test.ts checks every query against the metrics lvsd exports.
import json, os, sys
DS = {"type": "prometheus", "uid": "${datasource}"}
def var_ds():
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}
def var_q(name, label, query, multi=True, include_all=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"var-{name}"}, "definition": query,
            "refresh": 2, "multi": multi, "includeAll": include_all, "allValue": ".*",
            "current": {}, "options": [], "sort": 1, "hide": 0, "regex": ""}
class Board:
    def __init__(s): s.panels=[]; s.y=0; s.x=0; s.rowh=0; s.id=1
    def row(s, title):
        s.newline(); s.panels.append({"type":"row","title":title,"id":s.id,"collapsed":False,"gridPos":{"h":1,"w":24,"x":0,"y":s.y},"panels":[]}); s.id+=1; s.y+=1
    def newline(s):
        s.y += s.rowh; s.x=0; s.rowh=0
    def add(s, p, w, h):
        if s.x + w > 24: s.newline()
        p["id"]=s.id; s.id+=1
        p["gridPos"]={"h":h,"w":w,"x":s.x,"y":s.y}
        p.setdefault("datasource", DS)
        for i,t in enumerate(p.get("targets",[])):
            t.setdefault("refId", chr(65+i)); t["datasource"]=DS
        s.panels.append(p); s.x+=w; s.rowh=max(s.rowh,h)
def t(expr, legend="", instant=False, fmt=None):
    d={"expr":expr,"legendFormat":legend or "__auto","range": not instant,"instant": instant}
    if fmt: d["format"]=fmt
    return d
def stat(title, targets, unit="none", desc="", mappings=None, thresholds=None, color_mode="value", text_mode="auto"):
    return {"type":"stat","title":title,"description":desc,"targets":targets,
            "fieldConfig":{"defaults":{"unit":unit,"mappings":mappings or [],
               "thresholds": thresholds or {"mode":"absolute","steps":[{"color":"green","value":None}]}},"overrides":[]},
            "options":{"reduceOptions":{"calcs":["lastNotNull"],"fields":"","values":False},"colorMode":color_mode,"graphMode":"none","textMode":text_mode,"justifyMode":"auto","orientation":"auto"}}
def ts(title, targets, unit="short", desc="", stack=False, draw="line", minv=None):
    custom={"drawStyle":draw,"lineWidth":1,"fillOpacity":10 if not stack else 60,"showPoints":"never","spanNulls":False,
            "stacking":{"mode":"normal" if stack else "none","group":"A"}}
    d={"unit":unit,"custom":custom}
    if minv is not None: d["min"]=minv
    return {"type":"timeseries","title":title,"description":desc,"targets":targets,
            "fieldConfig":{"defaults":d,"overrides":[]},
            "options":{"legend":{"displayMode":"table","placement":"right","calcs":["lastNotNull","max"]},"tooltip":{"mode":"multi","sort":"desc"}}}
def table(title, targets, desc="", transformations=None):
    return {"type":"table","title":title,"description":desc,"targets":targets,
            "fieldConfig":{"defaults":{},"overrides":[]},"options":{"showHeader":True},
            "transformations": transformations or []}
def red_if_above(v): return {"mode":"absolute","steps":[{"color":"green","value":None},{"color":"red","value":v}]}
def red_if_below(v): return {"mode":"absolute","steps":[{"color":"red","value":None},{"color":"green","value":v}]}
def dashboard(uid, title, desc, templating, panels, links):
    return {"id": None, "uid": uid, "title": title, "description": desc, "tags": ["lvsd","lvs","ipvs"],
            "timezone": "browser", "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
            "refresh": "30s", "time": {"from":"now-6h","to":"now"}, "timepicker": {},
            "templating": {"list": templating}, "annotations": {"list": [
              {"name":"Realserver transitions","datasource":DS,"enable":True,"iconColor":"orange",
               "expr":"sum by (service, realserver, to) (increase(lvsd_realserver_transitions_total{instance=~\"$instance\",service=~\"$service\"}[2m])) > 0",
               "titleFormat":"{{service}} {{realserver}} {{to}}","textFormat":"realserver state change","step":"60s"},
              {"name":"VRRP transitions","datasource":DS,"enable":True,"iconColor":"purple",
               "expr":"sum by (instance, to) (increase(lvsd_vrrp_transitions_total{instance=~\"$instance\"}[2m])) > 0",
               "titleFormat":"{{instance}} to {{to}}","textFormat":"VRRP","step":"60s"}]},
            "links": links, "panels": panels}

I='instance=~"$instance"'
IS=I+',service=~"$service"'
# ---------------- overview
b=Board()
b.row("Services")
b.add(stat("Realservers UP",[t(f'sum(lvsd_realserver_state{{{IS},state="up"}})',instant=True)],desc="Realservers UP by their checks (not drained or in maintenance)."),4,4)
b.add(stat("Realservers DOWN",[t(f'sum(lvsd_realserver_state{{{IS},state="down"}})',instant=True)],thresholds=red_if_above(1)),4,4)
b.add(stat("Not yet checked",[t(f'sum(lvsd_realserver_state{{{IS},state="unknown"}})',instant=True)],thresholds={"mode":"absolute","steps":[{"color":"green","value":None},{"color":"orange","value":1}]}),4,4)
b.add(stat("Drained / maintenance",[t(f'sum(lvsd_realserver_state{{{IS},state=~"draining|maint"}})',instant=True)],thresholds={"mode":"absolute","steps":[{"color":"green","value":None},{"color":"blue","value":1}]}),4,4)
b.add(stat("Sorry server active",[t(f'sum(lvsd_service_sorry_active{{{IS}}})',instant=True)],desc="Services whose every realserver is down: the sorry server takes the traffic.",thresholds=red_if_above(1)),4,4)
b.add(stat("IPVS table in sync",[t(f'min(lvsd_ipvs_in_sync{{{I}}})',instant=True)],mappings=[{"type":"value","options":{"0":{"text":"NO","color":"red"},"1":{"text":"yes","color":"green"}}}],thresholds=red_if_below(1),desc="0 while the last reconcile pass left the kernel's table different from what lvsd wants (it retries)."),4,4)
b.add(table("Services",[
    t(f'sum by (service) (lvsd_service_realservers{{{IS},state="up"}})',instant=True,fmt="table"),
    t(f'sum by (service) (lvsd_service_realservers{{{IS}}})',instant=True,fmt="table"),
    t(f'max by (service) (lvsd_service_sorry_active{{{IS}}})',instant=True,fmt="table"),
    t(f'sum by (service) (lvsd_ipvs_service_connection_rate{{{IS}}})',instant=True,fmt="table"),
  ], desc="Per service: realservers UP of all, sorry server, new connections per second (from the kernel).",
  transformations=[{"id":"merge","options":{}},{"id":"organize","options":{"excludeByName":{"Time":True},"renameByName":{"Value #A":"UP","Value #B":"realservers","Value #C":"sorry server","Value #D":"conn/s"}}}]),12,8)
b.add(ts("Realservers by state",[t(f'sum by (service, state) (lvsd_service_realservers{{{IS}}})',"{{service}} {{state}}")],stack=True),12,8)
b.add(ts("Weights in the IPVS table",[t(f'lvsd_realserver_weight{{{IS}}}',"{{service}} {{realserver}}")],desc="Weight at the last read of the table (-1: not in the table). Compare with lvsd_realserver_configured_weight: 0 while quiescent, lower during slow start."),12,8)
b.add(ts("Realserver transitions",[t(f'sum by (service, to) (increase(lvsd_realserver_transitions_total{{{IS}}}[$__rate_interval]))',"{{service}} to {{to}}")],draw="bars"),12,8)
b.row("Failover (VRRP)")
b.add(table("VRRP role per director",[
    t(f'max by (instance, vrid, state) (lvsd_vrrp_state{{{I}}}) == 1',instant=True,fmt="table"),
    t(f'max by (instance, vrid) (lvsd_vrrp_priority{{{I}}})',instant=True,fmt="table")],
  desc="Each director's VRRP state and the priority it advertises (lowered by tracking).",
  transformations=[{"id":"merge","options":{}},{"id":"organize","options":{"excludeByName":{"Time":True,"Value #A":True},"renameByName":{"Value #B":"priority"}}}]),8,8)
b.add(ts("Directors in MASTER",[t(f'sum by (vrid) (lvsd_vrrp_state{{{I},state="master"}})',"vrid {{vrid}}")],desc="Should be 1: 0 = nobody holds the VIPs, 2 = split brain.",minv=0),8,8)
b.add(ts("VRRP adverts",[
    t(f'sum by (instance) (rate(lvsd_vrrp_adverts_sent_total{{{I}}}[$__rate_interval]))',"{{instance}} sent"),
    t(f'sum by (instance) (rate(lvsd_vrrp_adverts_received_total{{{I}}}[$__rate_interval]))',"{{instance}} received"),
    t(f'sum by (instance, reason) (rate(lvsd_vrrp_adverts_rejected_total{{{I}}}[$__rate_interval]))',"{{instance}} rejected: {{reason}}")],unit="pps"),8,8)
b.add(ts("VRRP transitions and split brain",[
    t(f'sum by (instance, to) (increase(lvsd_vrrp_transitions_total{{{I}}}[$__rate_interval]))',"{{instance}} to {{to}}"),
    t(f'sum by (instance) (increase(lvsd_vrrp_dual_master_seen_total{{{I}}}[$__rate_interval]))',"{{instance}} another master seen")],draw="bars"),24,7)
b.row("Alerts, reloads and lvsd itself")
b.add(ts("Alert deliveries",[t(f'sum by (target, result) (increase(lvsd_alerts_sent_total{{{I}}}[$__rate_interval]))',"{{target}} {{result}}")],draw="bars",desc="sent; failed: an attempt failed (retried); rejected: refused by the receiver; dropped: queue full; suppressed: outside the period."),8,8)
b.add(ts("Alert queues",[t(f'max by (target) (lvsd_alerts_queue_depth{{{I}}})',"{{target}} waiting"),
    t(f'max by (target) (lvsd_alerts_queue_oldest_age_seconds{{{I}}})',"{{target}} oldest age (s)")],desc="Undelivered alerts per target (kept across restarts) and how long the oldest has waited: a receiver that is down."),8,8)
b.add(ts("Config reloads",[t(f'sum by (result) (increase(lvsd_config_reloads_total{{{I}}}[$__rate_interval]))',"{{result}}")],draw="bars"),8,8)
b.add(stat("Config loaded",[t(f'lvsd_config_last_reload_success_timestamp_seconds{{{I}}} * 1000',"{{instance}}",instant=True)],unit="dateTimeFromNow",desc="When the running config was loaded; red when the last reload failed (the old config runs on)."),4,4)
b.add(stat("Last reload OK",[t(f'min(lvsd_config_last_reload_successful{{{I}}})',instant=True)],mappings=[{"type":"value","options":{"0":{"text":"FAILED","color":"red"},"1":{"text":"ok","color":"green"}}}],thresholds=red_if_below(1)),4,4)
b.add(ts("Probes per second",[t(f'sum by (result) (rate(lvsd_probes_total{{{IS}}}[$__rate_interval]))',"{{result}}")],unit="ops",stack=True),8,8)
b.add(ts("Probe scheduling lag",[
    t(f'histogram_quantile(0.5, sum by (le) (rate(lvsd_probe_schedule_lag_seconds_bucket{{{I}}}[$__rate_interval])))',"p50"),
    t(f'histogram_quantile(0.99, sum by (le) (rate(lvsd_probe_schedule_lag_seconds_bucket{{{I}}}[$__rate_interval])))',"p99"),
    t(f'sum(lvsd_probes_in_flight{{{I},state="queued"}})',"queued for a slot")],unit="s",desc="How late probes start against their schedule; queued: probes waiting for the concurrency cap."),8,8)
b.add(ts("IPVS changes",[
    t(f'sum by (op) (increase(lvsd_ipvs_changes_total{{{I}}}[$__rate_interval]))',"{{op}}"),
    t(f'sum(increase(lvsd_ipvs_apply_errors_total{{{I}}}[$__rate_interval]))',"failed passes"),
    t(f'histogram_quantile(0.99, sum by (le) (rate(lvsd_ipvs_apply_duration_seconds_bucket{{{I}}}[$__rate_interval])))',"pass p99 (s)")],draw="bars"),8,8)
b.add(ts("lvsd memory and CPU",[
    t(f'lvsd_process_resident_memory_bytes{{{I}}}',"{{instance}} RSS"),
    t(f'lvsd_nodejs_heap_size_used_bytes{{{I}}}',"{{instance}} heap used")],unit="bytes"),8,8)
b.add(ts("lvsd CPU",[t(f'rate(lvsd_process_cpu_seconds_total{{{I}}}[$__rate_interval])',"{{instance}}"),
    t(f'max by (instance) (lvsd_nodejs_eventloop_lag_p99_seconds{{{I}}})',"{{instance}} event loop lag p99 (s)")],unit="short",desc="CPU cores used; event loop lag in seconds."),8,8)
b.add(table("Directors",[t(f'lvsd_build_info{{{I}}}',instant=True,fmt="table")],desc="lvsd and Node.js versions, node name.",
  transformations=[{"id":"organize","options":{"excludeByName":{"Time":True,"Value":True,"__name__":True}}}]),8,8)
overview=dashboard("lvsd-overview","lvsd: overview","Services, realserver states and weights, VRRP role per director, alert deliveries, reloads.",
  [var_ds(), var_q("instance","Director","label_values(lvsd_build_info, instance)"),
   var_q("service","Service",'label_values(lvsd_service_realservers{instance=~"$instance"}, service)')],
  b.panels,[{"title":"Realserver","type":"link","url":"/d/lvsd-realserver/lvsd-realserver?${datasource:queryparam}&${instance:queryparam}&${service:queryparam}","targetBlank":False,"includeVars":False,"keepTime":True}])

# ---------------- realserver drill-down
R='instance=~"$instance",service=~"$service",realserver=~"$realserver"'
b=Board()
b.row("State")
b.add(stat("State",[t(f'max by (service, realserver, state) (lvsd_realserver_state{{{R}}}) == 1',"{{service}} {{realserver}}: {{state}}",instant=True)],text_mode="name",
   thresholds={"mode":"absolute","steps":[{"color":"blue","value":None}]},desc="up, down, unknown (no verdict yet), draining or maint."),6,5)
b.add(stat("Last probe",[t(f'min(lvsd_realserver_last_probe_success{{{R}}})',instant=True)],mappings=[{"type":"value","options":{"0":{"text":"FAILED","color":"red"},"1":{"text":"ok","color":"green"}}}],thresholds=red_if_below(1)),4,5)
b.add(stat("Failures in a row",[t(f'max(lvsd_realserver_consecutive_failures{{{R}}})',instant=True)],thresholds=red_if_above(1)),4,5)
b.add(stat("Since the last probe",[t(f'time() - max(lvsd_realserver_last_probe_timestamp_seconds{{{R}}})',instant=True)],unit="s"),5,5)
b.add(stat("State since",[t(f'max(lvsd_realserver_state_since_timestamp_seconds{{{R}}}) * 1000',instant=True)],unit="dateTimeFromNow"),5,5)
b.row("Probes")
b.add({"type":"heatmap","title":"Probe latency","description":"Distribution of probe durations (lvsd_probe_duration_seconds).",
   "targets":[t(f'sum by (le) (increase(lvsd_probe_duration_seconds_bucket{{{R}}}[$__rate_interval]))',"{{le}}",fmt="heatmap")],
   "options":{"calculate":False,"yAxis":{"unit":"s"},"color":{"mode":"scheme","scheme":"Oranges","steps":64},"cellGap":1,"tooltip":{"mode":"single"}},
   "fieldConfig":{"defaults":{},"overrides":[]}},12,8)
b.add(ts("Probe latency quantiles",[
    t(f'histogram_quantile(0.5, sum by (le, realserver) (rate(lvsd_probe_duration_seconds_bucket{{{R}}}[$__rate_interval])))',"{{realserver}} p50"),
    t(f'histogram_quantile(0.99, sum by (le, realserver) (rate(lvsd_probe_duration_seconds_bucket{{{R}}}[$__rate_interval])))',"{{realserver}} p99"),
    t(f'lvsd_realserver_last_probe_duration_seconds{{{R}}}',"{{realserver}} last")],unit="s"),12,8)
b.add(ts("Probe results",[t(f'sum by (realserver, result) (rate(lvsd_probes_total{{{R}}}[$__rate_interval]))',"{{realserver}} {{result}}")],unit="ops",stack=True),12,8)
b.add(ts("Transitions",[t(f'sum by (realserver, from, to) (increase(lvsd_realserver_transitions_total{{{R}}}[$__rate_interval]))',"{{realserver}} {{from}} to {{to}}")],draw="bars"),12,8)
b.row("Weight and traffic (IPVS)")
b.add(ts("Weight",[
    t(f'lvsd_realserver_weight{{{R}}}',"{{realserver}} in the table"),
    t(f'lvsd_realserver_wanted_weight{{{R}}}',"{{realserver}} wanted"),
    t(f'lvsd_realserver_configured_weight{{{R}}}',"{{realserver}} configured"),
    t(f'lvsd_ipvs_backend_weight{{{R}}}',"{{realserver}} kernel (scrape)")],desc="-1: not in the table. Wanted differs from the table only for the moment of a change, or while lvsd cannot apply it."),12,8)
b.add(ts("Connections",[t(f'sum by (realserver, state) (lvsd_ipvs_connections{{{R}}})',"{{realserver}} {{state}}")]),12,8)
b.add(ts("New connections per second",[t(f'sum by (realserver) (lvsd_ipvs_backend_connection_rate{{{R}}})',"{{realserver}}")],unit="cps"),8,8)
b.add(ts("Traffic",[t(f'sum by (realserver, direction) (rate(lvsd_ipvs_backend_bytes_total{{{R}}}[$__rate_interval]))',"{{realserver}} {{direction}}")],unit="Bps"),8,8)
b.add(ts("Packets",[t(f'sum by (realserver, direction) (rate(lvsd_ipvs_backend_packets_total{{{R}}}[$__rate_interval]))',"{{realserver}} {{direction}}")],unit="pps"),8,8)
rs=dashboard("lvsd-realserver","lvsd: realserver","One realserver (or several): state and since when, probe latency heatmap, results, transitions, weights, connections and traffic from IPVS.",
  [var_ds(), var_q("instance","Director","label_values(lvsd_build_info, instance)"),
   var_q("service","Service",'label_values(lvsd_service_realservers{instance=~"$instance"}, service)'),
   var_q("realserver","Realserver",'label_values(lvsd_realserver_up{instance=~"$instance",service=~"$service"}, realserver)')],
  b.panels,[{"title":"Overview","type":"link","url":"/d/lvsd-overview/lvsd-overview?${datasource:queryparam}&${instance:queryparam}","targetBlank":False,"includeVars":False,"keepTime":True}])
# the output directory: this one, or the first argument (the tests compare a fresh run with the files here)
out=sys.argv[1] if len(sys.argv)>1 else os.path.dirname(os.path.abspath(__file__))
for name,d in [("lvsd-overview.json",overview),("lvsd-realserver.json",rs)]:
    open(os.path.join(out, name),"w").write(json.dumps(d,indent=2)+"\n")
print("ok")

import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    LOW: _ClassVar[Priority]
    NORMAL: _ClassVar[Priority]
    HIGH: _ClassVar[Priority]
    EMERGENCY: _ClassVar[Priority]

class TravelModel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GREAT_CIRCLE: _ClassVar[TravelModel]
    EXPLICIT: _ClassVar[TravelModel]
    GOOGLE: _ClassVar[TravelModel]
    ROUTES: _ClassVar[TravelModel]

class Balance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NONE: _ClassVar[Balance]
    WORK_TIME: _ClassVar[Balance]
    JOB_COUNT: _ClassVar[Balance]

class ChangeScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_SCOPE_UNSPECIFIED: _ClassVar[ChangeScope]
    TIMES_ONLY: _ClassVar[ChangeScope]
    RESEQUENCE: _ClassVar[ChangeScope]
    REASSIGN: _ClassVar[ChangeScope]

class VisitStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VISIT_STATUS_UNSPECIFIED: _ClassVar[VisitStatus]
    VISIT_PLANNED: _ClassVar[VisitStatus]
    VISIT_EN_ROUTE: _ClassVar[VisitStatus]
    VISIT_ON_SITE: _ClassVar[VisitStatus]
    VISIT_COMPLETED: _ClassVar[VisitStatus]

class UnassignedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNASSIGNED_REASON_UNSPECIFIED: _ClassVar[UnassignedReason]
    NO_QUALIFIED_TECHNICIAN: _ClassVar[UnassignedReason]
    PARTS_UNAVAILABLE: _ClassVar[UnassignedReason]
    NO_REACHABLE_WINDOW: _ClassVar[UnassignedReason]
    CAPACITY_EXHAUSTED: _ClassVar[UnassignedReason]
    ADDRESS_NOT_FOUND: _ClassVar[UnassignedReason]
    UNREACHABLE: _ClassVar[UnassignedReason]
    TIME_LIMIT_REACHED: _ClassVar[UnassignedReason]
    HELD_BY_DISPATCHER: _ClassVar[UnassignedReason]
    PROMISE_BROKEN: _ClassVar[UnassignedReason]

class ProgressKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRESS_KIND_UNSPECIFIED: _ClassVar[ProgressKind]
    DEPARTED: _ClassVar[ProgressKind]
    ARRIVED: _ClassVar[ProgressKind]
    COMPLETED: _ClassVar[ProgressKind]
    POSITION: _ClassVar[ProgressKind]

class EtaKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ETA_KIND_UNSPECIFIED: _ClassVar[EtaKind]
    ETA_PLANNED: _ClassVar[EtaKind]
    ETA_MOVED: _ClassVar[EtaKind]
    ETA_DEPARTED: _ClassVar[EtaKind]
    ETA_EMERGENCY: _ClassVar[EtaKind]
    ETA_WITHDRAWN: _ClassVar[EtaKind]
    ETA_PROMISE_BROKEN: _ClassVar[EtaKind]
    ETA_EMERGENCY_RECEIVED: _ClassVar[EtaKind]
    ETA_SERVICE_COMPLETE: _ClassVar[EtaKind]
    ETA_CUSTOMER_MESSAGE: _ClassVar[EtaKind]
PRIORITY_UNSPECIFIED: Priority
LOW: Priority
NORMAL: Priority
HIGH: Priority
EMERGENCY: Priority
GREAT_CIRCLE: TravelModel
EXPLICIT: TravelModel
GOOGLE: TravelModel
ROUTES: TravelModel
NONE: Balance
WORK_TIME: Balance
JOB_COUNT: Balance
CHANGE_SCOPE_UNSPECIFIED: ChangeScope
TIMES_ONLY: ChangeScope
RESEQUENCE: ChangeScope
REASSIGN: ChangeScope
VISIT_STATUS_UNSPECIFIED: VisitStatus
VISIT_PLANNED: VisitStatus
VISIT_EN_ROUTE: VisitStatus
VISIT_ON_SITE: VisitStatus
VISIT_COMPLETED: VisitStatus
UNASSIGNED_REASON_UNSPECIFIED: UnassignedReason
NO_QUALIFIED_TECHNICIAN: UnassignedReason
PARTS_UNAVAILABLE: UnassignedReason
NO_REACHABLE_WINDOW: UnassignedReason
CAPACITY_EXHAUSTED: UnassignedReason
ADDRESS_NOT_FOUND: UnassignedReason
UNREACHABLE: UnassignedReason
TIME_LIMIT_REACHED: UnassignedReason
HELD_BY_DISPATCHER: UnassignedReason
PROMISE_BROKEN: UnassignedReason
PROGRESS_KIND_UNSPECIFIED: ProgressKind
DEPARTED: ProgressKind
ARRIVED: ProgressKind
COMPLETED: ProgressKind
POSITION: ProgressKind
ETA_KIND_UNSPECIFIED: EtaKind
ETA_PLANNED: EtaKind
ETA_MOVED: EtaKind
ETA_DEPARTED: EtaKind
ETA_EMERGENCY: EtaKind
ETA_WITHDRAWN: EtaKind
ETA_PROMISE_BROKEN: EtaKind
ETA_EMERGENCY_RECEIVED: EtaKind
ETA_SERVICE_COMPLETE: EtaKind
ETA_CUSTOMER_MESSAGE: EtaKind

class Location(_message.Message):
    __slots__ = ("lat", "lng", "matrix_index", "address")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LNG_FIELD_NUMBER: _ClassVar[int]
    MATRIX_INDEX_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lng: float
    matrix_index: int
    address: str
    def __init__(self, lat: _Optional[float] = ..., lng: _Optional[float] = ..., matrix_index: _Optional[int] = ..., address: _Optional[str] = ...) -> None: ...

class TimeWindow(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Break(_message.Message):
    __slots__ = ("window", "duration")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    window: TimeWindow
    duration: _duration_pb2.Duration
    def __init__(self, window: _Optional[_Union[TimeWindow, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Technician(_message.Message):
    __slots__ = ("id", "name", "phone", "start_location", "end_location", "shift", "breaks", "skills", "tools", "parts", "overtime", "shifts")
    class PartsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    START_LOCATION_FIELD_NUMBER: _ClassVar[int]
    END_LOCATION_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    BREAKS_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    OVERTIME_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    phone: str
    start_location: Location
    end_location: Location
    shift: TimeWindow
    breaks: _containers.RepeatedCompositeFieldContainer[Break]
    skills: _containers.RepeatedScalarFieldContainer[str]
    tools: _containers.RepeatedScalarFieldContainer[str]
    parts: _containers.ScalarMap[str, int]
    overtime: Overtime
    shifts: _containers.RepeatedCompositeFieldContainer[Shift]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., phone: _Optional[str] = ..., start_location: _Optional[_Union[Location, _Mapping]] = ..., end_location: _Optional[_Union[Location, _Mapping]] = ..., shift: _Optional[_Union[TimeWindow, _Mapping]] = ..., breaks: _Optional[_Iterable[_Union[Break, _Mapping]]] = ..., skills: _Optional[_Iterable[str]] = ..., tools: _Optional[_Iterable[str]] = ..., parts: _Optional[_Mapping[str, int]] = ..., overtime: _Optional[_Union[Overtime, _Mapping]] = ..., shifts: _Optional[_Iterable[_Union[Shift, _Mapping]]] = ...) -> None: ...

class Shift(_message.Message):
    __slots__ = ("id", "window", "start_location", "end_location", "breaks", "parts")
    class PartsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    START_LOCATION_FIELD_NUMBER: _ClassVar[int]
    END_LOCATION_FIELD_NUMBER: _ClassVar[int]
    BREAKS_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    window: TimeWindow
    start_location: Location
    end_location: Location
    breaks: _containers.RepeatedCompositeFieldContainer[Break]
    parts: _containers.ScalarMap[str, int]
    def __init__(self, id: _Optional[str] = ..., window: _Optional[_Union[TimeWindow, _Mapping]] = ..., start_location: _Optional[_Union[Location, _Mapping]] = ..., end_location: _Optional[_Union[Location, _Mapping]] = ..., breaks: _Optional[_Iterable[_Union[Break, _Mapping]]] = ..., parts: _Optional[_Mapping[str, int]] = ...) -> None: ...

class Overtime(_message.Message):
    __slots__ = ("max_extra", "cost_per_hour")
    MAX_EXTRA_FIELD_NUMBER: _ClassVar[int]
    COST_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    max_extra: _duration_pb2.Duration
    cost_per_hour: float
    def __init__(self, max_extra: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cost_per_hour: _Optional[float] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("name", "phone")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    phone: str
    def __init__(self, name: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "location", "service_duration", "time_windows", "required_skills", "required_tools", "required_parts", "priority", "pinned_technician_id", "customer", "service_type", "respond_within", "earliest_day", "latest_day", "preferred_technician_ids", "technicians_required", "required_skills_any_member")
    class RequiredPartsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_DURATION_FIELD_NUMBER: _ClassVar[int]
    TIME_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SKILLS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_PARTS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PINNED_TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESPOND_WITHIN_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_DAY_FIELD_NUMBER: _ClassVar[int]
    LATEST_DAY_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_TECHNICIAN_IDS_FIELD_NUMBER: _ClassVar[int]
    TECHNICIANS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SKILLS_ANY_MEMBER_FIELD_NUMBER: _ClassVar[int]
    id: str
    location: Location
    service_duration: _duration_pb2.Duration
    time_windows: _containers.RepeatedCompositeFieldContainer[TimeWindow]
    required_skills: _containers.RepeatedScalarFieldContainer[str]
    required_tools: _containers.RepeatedScalarFieldContainer[str]
    required_parts: _containers.ScalarMap[str, int]
    priority: Priority
    pinned_technician_id: str
    customer: Customer
    service_type: str
    respond_within: _duration_pb2.Duration
    earliest_day: str
    latest_day: str
    preferred_technician_ids: _containers.RepeatedScalarFieldContainer[str]
    technicians_required: int
    required_skills_any_member: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., service_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_windows: _Optional[_Iterable[_Union[TimeWindow, _Mapping]]] = ..., required_skills: _Optional[_Iterable[str]] = ..., required_tools: _Optional[_Iterable[str]] = ..., required_parts: _Optional[_Mapping[str, int]] = ..., priority: _Optional[_Union[Priority, str]] = ..., pinned_technician_id: _Optional[str] = ..., customer: _Optional[_Union[Customer, _Mapping]] = ..., service_type: _Optional[str] = ..., respond_within: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., earliest_day: _Optional[str] = ..., latest_day: _Optional[str] = ..., preferred_technician_ids: _Optional[_Iterable[str]] = ..., technicians_required: _Optional[int] = ..., required_skills_any_member: _Optional[_Iterable[str]] = ...) -> None: ...

class SolveOptions(_message.Message):
    __slots__ = ("time_limit", "travel_model", "reassign_penalty", "promise_weight", "traffic", "emergency_weight", "change_scope", "balance", "balance_weight", "travel_cost_per_hour")
    TIME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_MODEL_FIELD_NUMBER: _ClassVar[int]
    REASSIGN_PENALTY_FIELD_NUMBER: _ClassVar[int]
    PROMISE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_COST_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    time_limit: _duration_pb2.Duration
    travel_model: TravelModel
    reassign_penalty: _duration_pb2.Duration
    promise_weight: int
    traffic: bool
    emergency_weight: int
    change_scope: ChangeScope
    balance: Balance
    balance_weight: float
    travel_cost_per_hour: float
    def __init__(self, time_limit: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., travel_model: _Optional[_Union[TravelModel, str]] = ..., reassign_penalty: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., promise_weight: _Optional[int] = ..., traffic: bool = ..., emergency_weight: _Optional[int] = ..., change_scope: _Optional[_Union[ChangeScope, str]] = ..., balance: _Optional[_Union[Balance, str]] = ..., balance_weight: _Optional[float] = ..., travel_cost_per_hour: _Optional[float] = ...) -> None: ...

class TravelMatrix(_message.Message):
    __slots__ = ("size", "durations_seconds", "distances_meters")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DURATIONS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_METERS_FIELD_NUMBER: _ClassVar[int]
    size: int
    durations_seconds: _containers.RepeatedScalarFieldContainer[int]
    distances_meters: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, size: _Optional[int] = ..., durations_seconds: _Optional[_Iterable[int]] = ..., distances_meters: _Optional[_Iterable[int]] = ...) -> None: ...

class SolveRequest(_message.Message):
    __slots__ = ("plan_id", "start_time", "technicians", "jobs", "options", "travel_matrix", "request_id", "replace", "time_zone")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    TECHNICIANS_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_MATRIX_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    start_time: _timestamp_pb2.Timestamp
    technicians: _containers.RepeatedCompositeFieldContainer[Technician]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    options: SolveOptions
    travel_matrix: TravelMatrix
    request_id: str
    replace: bool
    time_zone: str
    def __init__(self, plan_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., technicians: _Optional[_Iterable[_Union[Technician, _Mapping]]] = ..., jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., options: _Optional[_Union[SolveOptions, _Mapping]] = ..., travel_matrix: _Optional[_Union[TravelMatrix, _Mapping]] = ..., request_id: _Optional[str] = ..., replace: bool = ..., time_zone: _Optional[str] = ...) -> None: ...

class Visit(_message.Message):
    __slots__ = ("job_id", "arrival", "start", "end", "travel_duration", "travel_distance_meters", "status", "travel_source", "visit_group_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_DURATION_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_DISTANCE_METERS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_SOURCE_FIELD_NUMBER: _ClassVar[int]
    VISIT_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    arrival: _timestamp_pb2.Timestamp
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    travel_duration: _duration_pb2.Duration
    travel_distance_meters: int
    status: VisitStatus
    travel_source: str
    visit_group_id: str
    def __init__(self, job_id: _Optional[str] = ..., arrival: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., travel_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., travel_distance_meters: _Optional[int] = ..., status: _Optional[_Union[VisitStatus, str]] = ..., travel_source: _Optional[str] = ..., visit_group_id: _Optional[str] = ...) -> None: ...

class ScheduledBreak(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("technician_id", "start", "end", "travel_duration", "distance_meters", "visits", "breaks", "return_travel_duration", "return_distance_meters", "return_travel_source", "shift_id")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_DURATION_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_METERS_FIELD_NUMBER: _ClassVar[int]
    VISITS_FIELD_NUMBER: _ClassVar[int]
    BREAKS_FIELD_NUMBER: _ClassVar[int]
    RETURN_TRAVEL_DURATION_FIELD_NUMBER: _ClassVar[int]
    RETURN_DISTANCE_METERS_FIELD_NUMBER: _ClassVar[int]
    RETURN_TRAVEL_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    travel_duration: _duration_pb2.Duration
    distance_meters: int
    visits: _containers.RepeatedCompositeFieldContainer[Visit]
    breaks: _containers.RepeatedCompositeFieldContainer[ScheduledBreak]
    return_travel_duration: _duration_pb2.Duration
    return_distance_meters: int
    return_travel_source: str
    shift_id: str
    def __init__(self, technician_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., travel_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., distance_meters: _Optional[int] = ..., visits: _Optional[_Iterable[_Union[Visit, _Mapping]]] = ..., breaks: _Optional[_Iterable[_Union[ScheduledBreak, _Mapping]]] = ..., return_travel_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., return_distance_meters: _Optional[int] = ..., return_travel_source: _Optional[str] = ..., shift_id: _Optional[str] = ...) -> None: ...

class Unassigned(_message.Message):
    __slots__ = ("job_id", "reason", "detail")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: UnassignedReason
    detail: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[_Union[UnassignedReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class PlanStats(_message.Message):
    __slots__ = ("total_travel_duration", "total_distance_meters", "objective", "solver_status", "solve_time", "jobs_assigned", "jobs_unassigned", "warnings", "travel_source", "travel_requests", "travel_estimated_pairs", "travel_unreachable_pairs", "technicians", "work_time_spread", "work_time_stddev", "job_count_spread", "job_count_stddev", "total_overtime")
    TOTAL_TRAVEL_DURATION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DISTANCE_METERS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    SOLVER_STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    JOBS_ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    JOBS_UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_SOURCE_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_ESTIMATED_PAIRS_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_UNREACHABLE_PAIRS_FIELD_NUMBER: _ClassVar[int]
    TECHNICIANS_FIELD_NUMBER: _ClassVar[int]
    WORK_TIME_SPREAD_FIELD_NUMBER: _ClassVar[int]
    WORK_TIME_STDDEV_FIELD_NUMBER: _ClassVar[int]
    JOB_COUNT_SPREAD_FIELD_NUMBER: _ClassVar[int]
    JOB_COUNT_STDDEV_FIELD_NUMBER: _ClassVar[int]
    TOTAL_OVERTIME_FIELD_NUMBER: _ClassVar[int]
    total_travel_duration: _duration_pb2.Duration
    total_distance_meters: int
    objective: int
    solver_status: str
    solve_time: _duration_pb2.Duration
    jobs_assigned: int
    jobs_unassigned: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    travel_source: str
    travel_requests: int
    travel_estimated_pairs: int
    travel_unreachable_pairs: int
    technicians: _containers.RepeatedCompositeFieldContainer[TechnicianStats]
    work_time_spread: _duration_pb2.Duration
    work_time_stddev: _duration_pb2.Duration
    job_count_spread: int
    job_count_stddev: float
    total_overtime: _duration_pb2.Duration
    def __init__(self, total_travel_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., total_distance_meters: _Optional[int] = ..., objective: _Optional[int] = ..., solver_status: _Optional[str] = ..., solve_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., jobs_assigned: _Optional[int] = ..., jobs_unassigned: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ..., travel_source: _Optional[str] = ..., travel_requests: _Optional[int] = ..., travel_estimated_pairs: _Optional[int] = ..., travel_unreachable_pairs: _Optional[int] = ..., technicians: _Optional[_Iterable[_Union[TechnicianStats, _Mapping]]] = ..., work_time_spread: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., work_time_stddev: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., job_count_spread: _Optional[int] = ..., job_count_stddev: _Optional[float] = ..., total_overtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TechnicianStats(_message.Message):
    __slots__ = ("technician_id", "work", "drive", "overtime", "jobs", "shift_id")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    WORK_FIELD_NUMBER: _ClassVar[int]
    DRIVE_FIELD_NUMBER: _ClassVar[int]
    OVERTIME_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    work: _duration_pb2.Duration
    drive: _duration_pb2.Duration
    overtime: _duration_pb2.Duration
    jobs: int
    shift_id: str
    def __init__(self, technician_id: _Optional[str] = ..., work: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., drive: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., overtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., jobs: _Optional[int] = ..., shift_id: _Optional[str] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("plan_id", "version", "routes", "unassigned", "stats", "start_time", "time_zone")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    version: int
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    unassigned: _containers.RepeatedCompositeFieldContainer[Unassigned]
    stats: PlanStats
    start_time: _timestamp_pb2.Timestamp
    time_zone: str
    def __init__(self, plan_id: _Optional[str] = ..., version: _Optional[int] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., unassigned: _Optional[_Iterable[_Union[Unassigned, _Mapping]]] = ..., stats: _Optional[_Union[PlanStats, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_zone: _Optional[str] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class SolveProgress(_message.Message):
    __slots__ = ("objective", "elapsed", "jobs_assigned")
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    JOBS_ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    objective: int
    elapsed: _duration_pb2.Duration
    jobs_assigned: int
    def __init__(self, objective: _Optional[int] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., jobs_assigned: _Optional[int] = ...) -> None: ...

class SolveUpdate(_message.Message):
    __slots__ = ("progress", "plan")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    progress: SolveProgress
    plan: Plan
    def __init__(self, progress: _Optional[_Union[SolveProgress, _Mapping]] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class ValidateRequest(_message.Message):
    __slots__ = ("request", "plan")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    request: SolveRequest
    plan: Plan
    def __init__(self, request: _Optional[_Union[SolveRequest, _Mapping]] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("code", "message", "technician_id", "job_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    technician_id: str
    job_id: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., technician_id: _Optional[str] = ..., job_id: _Optional[str] = ...) -> None: ...

class ValidateResponse(_message.Message):
    __slots__ = ("feasible", "violations")
    FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    feasible: bool
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    def __init__(self, feasible: bool = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class CancelJob(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("technician_id", "kind", "job_id", "location", "time", "invoice")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    kind: ProgressKind
    job_id: str
    location: Location
    time: _timestamp_pb2.Timestamp
    invoice: Invoice
    def __init__(self, technician_id: _Optional[str] = ..., kind: _Optional[_Union[ProgressKind, str]] = ..., job_id: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("number", "total", "payment_link")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_LINK_FIELD_NUMBER: _ClassVar[int]
    number: str
    total: str
    payment_link: str
    def __init__(self, number: _Optional[str] = ..., total: _Optional[str] = ..., payment_link: _Optional[str] = ...) -> None: ...

class Delay(_message.Message):
    __slots__ = ("job_id", "extra")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    extra: _duration_pb2.Duration
    def __init__(self, job_id: _Optional[str] = ..., extra: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TechnicianUnavailable(_message.Message):
    __slots__ = ("technician_id",)
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    def __init__(self, technician_id: _Optional[str] = ..., **kwargs) -> None: ...

class Event(_message.Message):
    __slots__ = ("new_job", "cancel_job", "progress", "delay", "technician_unavailable", "technician_added", "assign", "unassign", "release", "lock_route")
    NEW_JOB_FIELD_NUMBER: _ClassVar[int]
    CANCEL_JOB_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ADDED_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    UNASSIGN_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    LOCK_ROUTE_FIELD_NUMBER: _ClassVar[int]
    new_job: Job
    cancel_job: CancelJob
    progress: Progress
    delay: Delay
    technician_unavailable: TechnicianUnavailable
    technician_added: Technician
    assign: Assign
    unassign: Unassign
    release: Release
    lock_route: LockRoute
    def __init__(self, new_job: _Optional[_Union[Job, _Mapping]] = ..., cancel_job: _Optional[_Union[CancelJob, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., delay: _Optional[_Union[Delay, _Mapping]] = ..., technician_unavailable: _Optional[_Union[TechnicianUnavailable, _Mapping]] = ..., technician_added: _Optional[_Union[Technician, _Mapping]] = ..., assign: _Optional[_Union[Assign, _Mapping]] = ..., unassign: _Optional[_Union[Unassign, _Mapping]] = ..., release: _Optional[_Union[Release, _Mapping]] = ..., lock_route: _Optional[_Union[LockRoute, _Mapping]] = ...) -> None: ...

class Assign(_message.Message):
    __slots__ = ("job_id", "technician_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    technician_id: str
    def __init__(self, job_id: _Optional[str] = ..., technician_id: _Optional[str] = ...) -> None: ...

class Unassign(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Release(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class LockRoute(_message.Message):
    __slots__ = ("technician_id", "until")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    until: _timestamp_pb2.Timestamp
    def __init__(self, technician_id: _Optional[str] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReoptimizeRequest(_message.Message):
    __slots__ = ("plan_id", "expected_version", "time", "events", "options", "request_id")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    expected_version: int
    time: _timestamp_pb2.Timestamp
    events: _containers.RepeatedCompositeFieldContainer[Event]
    options: SolveOptions
    request_id: str
    def __init__(self, plan_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., options: _Optional[_Union[SolveOptions, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SuggestTechniciansRequest(_message.Message):
    __slots__ = ("plan_id", "expected_version", "time", "job", "max_options")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    MAX_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    expected_version: int
    time: _timestamp_pb2.Timestamp
    job: Job
    max_options: int
    def __init__(self, plan_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., job: _Optional[_Union[Job, _Mapping]] = ..., max_options: _Optional[int] = ...) -> None: ...

class SuggestSlotsRequest(_message.Message):
    __slots__ = ("plan_id", "job", "slots", "slot_length", "days", "max_options", "time", "expected_version")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    SLOT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    MAX_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    job: Job
    slots: _containers.RepeatedCompositeFieldContainer[TimeWindow]
    slot_length: _duration_pb2.Duration
    days: int
    max_options: int
    time: _timestamp_pb2.Timestamp
    expected_version: int
    def __init__(self, plan_id: _Optional[str] = ..., job: _Optional[_Union[Job, _Mapping]] = ..., slots: _Optional[_Iterable[_Union[TimeWindow, _Mapping]]] = ..., slot_length: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., days: _Optional[int] = ..., max_options: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class SlotOption(_message.Message):
    __slots__ = ("window", "technician_id", "added_travel", "displaced", "score", "start")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    ADDED_TRAVEL_FIELD_NUMBER: _ClassVar[int]
    DISPLACED_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    window: TimeWindow
    technician_id: str
    added_travel: _duration_pb2.Duration
    displaced: int
    score: float
    start: _timestamp_pb2.Timestamp
    def __init__(self, window: _Optional[_Union[TimeWindow, _Mapping]] = ..., technician_id: _Optional[str] = ..., added_travel: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., displaced: _Optional[int] = ..., score: _Optional[float] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SuggestSlotsResponse(_message.Message):
    __slots__ = ("plan_id", "plan_version", "options", "time_zone")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    plan_version: int
    options: _containers.RepeatedCompositeFieldContainer[SlotOption]
    time_zone: str
    def __init__(self, plan_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., options: _Optional[_Iterable[_Union[SlotOption, _Mapping]]] = ..., time_zone: _Optional[str] = ...) -> None: ...

class DisplacedVisit(_message.Message):
    __slots__ = ("job_id", "old_start", "new_start")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_START_FIELD_NUMBER: _ClassVar[int]
    NEW_START_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    old_start: _timestamp_pb2.Timestamp
    new_start: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., old_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., new_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TechnicianOption(_message.Message):
    __slots__ = ("technician_id", "arrival", "start", "added_travel", "displaced", "newly_unassigned", "promises_broken", "note", "feasible")
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    ADDED_TRAVEL_FIELD_NUMBER: _ClassVar[int]
    DISPLACED_FIELD_NUMBER: _ClassVar[int]
    NEWLY_UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    PROMISES_BROKEN_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    technician_id: str
    arrival: _timestamp_pb2.Timestamp
    start: _timestamp_pb2.Timestamp
    added_travel: _duration_pb2.Duration
    displaced: _containers.RepeatedCompositeFieldContainer[DisplacedVisit]
    newly_unassigned: _containers.RepeatedCompositeFieldContainer[Unassigned]
    promises_broken: int
    note: str
    feasible: bool
    def __init__(self, technician_id: _Optional[str] = ..., arrival: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., added_travel: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., displaced: _Optional[_Iterable[_Union[DisplacedVisit, _Mapping]]] = ..., newly_unassigned: _Optional[_Iterable[_Union[Unassigned, _Mapping]]] = ..., promises_broken: _Optional[int] = ..., note: _Optional[str] = ..., feasible: bool = ...) -> None: ...

class SuggestTechniciansResponse(_message.Message):
    __slots__ = ("plan_id", "plan_version", "options", "time_zone")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    plan_version: int
    options: _containers.RepeatedCompositeFieldContainer[TechnicianOption]
    time_zone: str
    def __init__(self, plan_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., options: _Optional[_Iterable[_Union[TechnicianOption, _Mapping]]] = ..., time_zone: _Optional[str] = ...) -> None: ...

class Reassignment(_message.Message):
    __slots__ = ("job_id", "from_technician_id", "to_technician_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    TO_TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    from_technician_id: str
    to_technician_id: str
    def __init__(self, job_id: _Optional[str] = ..., from_technician_id: _Optional[str] = ..., to_technician_id: _Optional[str] = ...) -> None: ...

class Resequence(_message.Message):
    __slots__ = ("job_id", "technician_id", "old_position", "new_position")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_POSITION_FIELD_NUMBER: _ClassVar[int]
    NEW_POSITION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    technician_id: str
    old_position: int
    new_position: int
    def __init__(self, job_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., old_position: _Optional[int] = ..., new_position: _Optional[int] = ...) -> None: ...

class EtaChange(_message.Message):
    __slots__ = ("job_id", "old_start", "new_start", "change", "technician_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_START_FIELD_NUMBER: _ClassVar[int]
    NEW_START_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    old_start: _timestamp_pb2.Timestamp
    new_start: _timestamp_pb2.Timestamp
    change: _duration_pb2.Duration
    technician_id: str
    def __init__(self, job_id: _Optional[str] = ..., old_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., new_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., technician_id: _Optional[str] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("job_id", "technician_id", "start")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    technician_id: str
    start: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PlanDiff(_message.Message):
    __slots__ = ("from_version", "to_version", "reassigned", "resequenced", "newly_unassigned", "eta_changes", "newly_assigned", "broken_promises")
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASSIGNED_FIELD_NUMBER: _ClassVar[int]
    RESEQUENCED_FIELD_NUMBER: _ClassVar[int]
    NEWLY_UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    ETA_CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEWLY_ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    BROKEN_PROMISES_FIELD_NUMBER: _ClassVar[int]
    from_version: int
    to_version: int
    reassigned: _containers.RepeatedCompositeFieldContainer[Reassignment]
    resequenced: _containers.RepeatedCompositeFieldContainer[Resequence]
    newly_unassigned: _containers.RepeatedCompositeFieldContainer[Unassigned]
    eta_changes: _containers.RepeatedCompositeFieldContainer[EtaChange]
    newly_assigned: _containers.RepeatedCompositeFieldContainer[Assignment]
    broken_promises: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., reassigned: _Optional[_Iterable[_Union[Reassignment, _Mapping]]] = ..., resequenced: _Optional[_Iterable[_Union[Resequence, _Mapping]]] = ..., newly_unassigned: _Optional[_Iterable[_Union[Unassigned, _Mapping]]] = ..., eta_changes: _Optional[_Iterable[_Union[EtaChange, _Mapping]]] = ..., newly_assigned: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., broken_promises: _Optional[_Iterable[str]] = ...) -> None: ...

class ReoptimizeResponse(_message.Message):
    __slots__ = ("plan", "diff")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    diff: PlanDiff
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ..., diff: _Optional[_Union[PlanDiff, _Mapping]] = ...) -> None: ...

class ReoptimizeUpdate(_message.Message):
    __slots__ = ("result", "final")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    result: ReoptimizeResponse
    final: bool
    def __init__(self, result: _Optional[_Union[ReoptimizeResponse, _Mapping]] = ..., final: bool = ...) -> None: ...

class WatchEtasRequest(_message.Message):
    __slots__ = ("plan_id", "technician_id")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    technician_id: str
    def __init__(self, plan_id: _Optional[str] = ..., technician_id: _Optional[str] = ...) -> None: ...

class EtaUpdate(_message.Message):
    __slots__ = ("plan_id", "version", "kind", "job_id", "technician_id", "eta", "window_start", "window_end", "previous_eta", "at", "priority", "service_type", "technician_name", "time_zone", "variables")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_ID_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ETA_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    version: int
    kind: EtaKind
    job_id: str
    technician_id: str
    eta: _timestamp_pb2.Timestamp
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    previous_eta: _timestamp_pb2.Timestamp
    at: _timestamp_pb2.Timestamp
    priority: Priority
    service_type: str
    technician_name: str
    time_zone: str
    variables: _containers.ScalarMap[str, str]
    def __init__(self, plan_id: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[_Union[EtaKind, str]] = ..., job_id: _Optional[str] = ..., technician_id: _Optional[str] = ..., eta: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_eta: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[_Union[Priority, str]] = ..., service_type: _Optional[str] = ..., technician_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., variables: _Optional[_Mapping[str, str]] = ...) -> None: ...

class NotifyCustomerRequest(_message.Message):
    __slots__ = ("kind", "plan_id", "job_id", "phone", "variables", "request_id")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    plan_id: str
    job_id: str
    phone: str
    variables: _containers.ScalarMap[str, str]
    request_id: str
    def __init__(self, kind: _Optional[str] = ..., plan_id: _Optional[str] = ..., job_id: _Optional[str] = ..., phone: _Optional[str] = ..., variables: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class NotifyCustomerResponse(_message.Message):
    __slots__ = ("message_key",)
    MESSAGE_KEY_FIELD_NUMBER: _ClassVar[int]
    message_key: str
    def __init__(self, message_key: _Optional[str] = ...) -> None: ...

class WatchCustomerRepliesRequest(_message.Message):
    __slots__ = ("after",)
    AFTER_FIELD_NUMBER: _ClassVar[int]
    after: str
    def __init__(self, after: _Optional[str] = ...) -> None: ...

class CustomerReply(_message.Message):
    __slots__ = ("id", "phone", "body", "received_at", "message_sid", "plan_id", "job_id", "forwarded")
    ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_SID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    id: str
    phone: str
    body: str
    received_at: _timestamp_pb2.Timestamp
    message_sid: str
    plan_id: str
    job_id: str
    forwarded: bool
    def __init__(self, id: _Optional[str] = ..., phone: _Optional[str] = ..., body: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message_sid: _Optional[str] = ..., plan_id: _Optional[str] = ..., job_id: _Optional[str] = ..., forwarded: bool = ...) -> None: ...

class GetIntegrationHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IntegrationHealth(_message.Message):
    __slots__ = ("integration", "status", "configured", "attempts", "errors", "success_rate", "last_activity", "last_error", "mean_latency", "window", "notes")
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    MEAN_LATENCY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    integration: str
    status: str
    configured: bool
    attempts: int
    errors: int
    success_rate: float
    last_activity: _timestamp_pb2.Timestamp
    last_error: str
    mean_latency: _duration_pb2.Duration
    window: _duration_pb2.Duration
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, integration: _Optional[str] = ..., status: _Optional[str] = ..., configured: bool = ..., attempts: _Optional[int] = ..., errors: _Optional[int] = ..., success_rate: _Optional[float] = ..., last_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., mean_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class GetIntegrationHealthResponse(_message.Message):
    __slots__ = ("integrations",)
    INTEGRATIONS_FIELD_NUMBER: _ClassVar[int]
    integrations: _containers.RepeatedCompositeFieldContainer[IntegrationHealth]
    def __init__(self, integrations: _Optional[_Iterable[_Union[IntegrationHealth, _Mapping]]] = ...) -> None: ...

#!/usr/bin/env bash
# The one-time set-up a project owner runs before Shoplake's first
# `terraform apply` (README, "First apply on an empty project"). Idempotent:
# it creates only what is missing.
#
#   1. The APIs Terraform needs before it can enable the others itself.
#   2. The Terraform state bucket gs://<project>-tfstate: versioned, uniform
#      access, public access prevented.
#   3. The deploying service account shoplake-deployer with DEPLOYER_ROLES on
#      the project (each the narrowest admin role of what the plan creates;
#      terraform/bootstrap_test.go checks them against every resource type),
#      Project IAM Admin only for the project-level roles the plan grants
#      (an IAM condition on modifiedGrantsByRole); Storage Admin covers the
#      state bucket. Service Account User on the accounts it attaches is
#      granted by Terraform itself, per account (var.deployer).
#
# Usage: scripts/bootstrap.sh PROJECT_ID REGION [--dry-run]
# Then: terraform init -backend-config=bucket=PROJECT_ID-tfstate, and apply
# with -var deployer=serviceAccount:shoplake-deployer@PROJECT_ID.iam.gserviceaccount.com
# (impersonating it: GOOGLE_IMPERSONATE_SERVICE_ACCOUNT, or from Cloud Build).
set -euo pipefail

DEPLOYER_ROLES=(
  roles/serviceusage.serviceUsageAdmin  # google_project_service
  roles/iam.serviceAccountAdmin         # google_service_account, google_service_account_iam_member
  roles/storage.admin                   # google_storage_bucket, google_storage_bucket_iam_member, google_storage_bucket_object
  roles/bigquery.admin                  # google_bigquery_dataset, google_bigquery_table, google_bigquery_dataset_iam_member
  roles/pubsub.admin                    # google_pubsub_topic, google_pubsub_subscription and their iam_member
  roles/secretmanager.admin             # google_secret_manager_secret, google_secret_manager_secret_iam_member
  roles/cloudfunctions.admin            # google_cloudfunctions2_function
  roles/run.admin                       # google_cloud_run_v2_job, google_cloud_run_v2_job_iam_member, google_cloud_run_service_iam_member
  roles/cloudscheduler.admin            # google_cloud_scheduler_job
  roles/artifactregistry.admin          # google_artifact_registry_repository, google_artifact_registry_repository_iam_member
  roles/eventarc.admin                  # the event_trigger of google_cloudfunctions2_function
  roles/logging.configWriter            # google_logging_metric
  roles/monitoring.alertPolicyEditor    # google_monitoring_alert_policy
  roles/monitoring.dashboardEditor      # google_monitoring_dashboard
  roles/browser                         # data.google_project (reads the project number)
  roles/iam.roleAdmin                   # google_project_iam_custom_role
  roles/cloudquotas.admin               # google_cloud_quotas_quota_preference
  roles/datacatalog.categoryAdmin       # google_data_catalog_taxonomy, google_data_catalog_policy_tag and their iam_member
)

# The only roles the plan grants on the whole project (terraform/iam.tf,
# google_project_iam_member): the deployer's Project IAM Admin is limited to
# these.
PROJECT_GRANTS=(
  roles/bigquery.jobUser
  roles/eventarc.eventReceiver
  roles/logging.logWriter
  roles/monitoring.metricWriter
  roles/pubsub.publisher
  roles/storage.objectViewer
)

APIS=(serviceusage.googleapis.com cloudresourcemanager.googleapis.com iam.googleapis.com storage.googleapis.com)

usage() { echo "usage: $0 PROJECT_ID REGION [--dry-run]" >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage
PROJECT=$1 REGION=$2 DRY=false
case ${3:-} in "") ;; --dry-run) DRY=true ;; *) usage ;; esac

DEPLOYER="shoplake-deployer@${PROJECT}.iam.gserviceaccount.com"
STATE="gs://${PROJECT}-tfstate"

step() { printf '==> %s\n' "$*"; }
# run runs a gcloud command quietly, or prints it with --dry-run.
run() {
  if $DRY; then printf '    %s\n' "$*"; else "$@" >/dev/null; fi
}
# exists reports whether a describe command finds its resource (never, dry).
exists() { ! $DRY && "$@" >/dev/null 2>&1; }

step "enabling ${APIS[*]}"
run gcloud services enable "${APIS[@]}" --project "$PROJECT"

step "state bucket $STATE"
exists gcloud storage buckets describe "$STATE" --project "$PROJECT" ||
  run gcloud storage buckets create "$STATE" --project "$PROJECT" --location "$REGION" \
    --uniform-bucket-level-access --public-access-prevention
run gcloud storage buckets update "$STATE" --versioning

step "deploying account $DEPLOYER"
exists gcloud iam service-accounts describe "$DEPLOYER" --project "$PROJECT" ||
  run gcloud iam service-accounts create shoplake-deployer --project "$PROJECT" \
    --display-name "Shoplake deployer" --description "Runs terraform apply for Shoplake (scripts/bootstrap.sh)."

for role in "${DEPLOYER_ROLES[@]}"; do
  step "grant $role"
  run gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:$DEPLOYER" \
    --role "$role" --condition None --quiet
done

step "grant roles/resourcemanager.projectIamAdmin, limited to ${PROJECT_GRANTS[*]}"
condition=$(mktemp)
trap 'rm -f "$condition"' EXIT
{
  echo "title: shoplake-project-grants"
  echo "description: Only the project-level roles Shoplake's plan grants"
  printf "expression: \"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([%s])\"\n" \
    "$(printf "'%s', " "${PROJECT_GRANTS[@]}" | sed 's/, $//')"
} >"$condition"
$DRY && sed 's/^/    /' "$condition"
run gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:$DEPLOYER" \
  --role roles/resourcemanager.projectIamAdmin --condition-from-file "$condition" --quiet

step "done: terraform -chdir=terraform init -backend-config=bucket=${PROJECT}-tfstate, then apply with -var deployer=serviceAccount:$DEPLOYER"
